// DOM helpers shared by the dashboard's scripts (loaded first). Every user-supplied string goes
// in through text nodes, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// "1 connection", "2 connections": counts read as words, not "(s)".
function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
