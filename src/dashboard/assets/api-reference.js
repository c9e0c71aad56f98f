// The interactive API reference at /swagger/: renders every operation of the OpenAPI documents
// this server serves (/swagger/<name>.json) with its parameters, body and answers, and "Try it"
// sends the call to this server. Each call is signed with a token the dashboard session gets
// for exactly that path (/dashboard/api/rest-token), so the page never holds the access key.
// Hand-written instead of a vendored Swagger UI: it stays a few kilobytes in the binary and
// needs nothing from the network. Uses dom.js.
"use strict";

const METHODS = ["get", "put", "post", "delete", "head", "patch", "options"];
const DEFAULT_DOCUMENT = "latest";

let documentRoot = null;

// Follows local `$ref`s (`#/components/...`), the only kind these documents use.
function resolve(node) {
  let seen = 0;
  while (node && node.$ref && seen++ < 10) {
    node = node.$ref.slice(2).split("/").reduce((at, key) => at?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], documentRoot);
  }
  return node ?? {};
}

function parameterInput(parameter) {
  const schema = resolve(parameter.schema);
  const value = parameter.example ?? schema.default ?? "";
  const attrs = { "data-name": parameter.name, "data-in": parameter.in, spellcheck: "false", value: String(value) };
  if (parameter.required) attrs.required = "";
  if (schema.enum) {
    return el("select", attrs, ...(parameter.required ? [] : [el("option", { value: "" }, "")]),
      ...schema.enum.map((v) => el("option", { value: String(v) }, String(v))));
  }
  if (schema.type === "array") {
    attrs.placeholder = "comma-separated";
    attrs["data-array"] = "true";
  }
  return el("input", attrs);
}

function exampleBody(operation) {
  const content = resolve(operation.requestBody).content?.["application/json"];
  if (!content) return null;
  const example = content.example ?? resolve(content.schema).example ?? {};
  return JSON.stringify(example, null, 2);
}

function renderOperation(path, method, operation, shared) {
  const parameters = [...shared, ...(operation.parameters ?? [])].map(resolve).filter((p) => p.in === "path" || p.in === "query");
  const body = exampleBody(operation);
  const output = el("pre", { class: "response", hidden: "" });
  const responses = Object.entries(operation.responses ?? {}).map(([status, response]) =>
    el("li", {}, el("b", {}, status), ` ${resolve(response).description ?? ""}`));
  const form = el("form", { class: "body" },
    operation.description ? el("p", { class: "muted" }, operation.description) : null,
    parameters.length
      ? el("div", { class: "params" }, ...parameters.flatMap((p) => [
        el("label", { class: "name" }, p.name, el("small", {}, `${p.in}${p.required ? ", required" : ""}`)),
        parameterInput(p),
      ]))
      : el("p", { class: "muted" }, "No parameters."),
    body === null ? null : el("label", {}, "Body (application/json)",
      el("textarea", { class: "request-body", rows: String(Math.min(8, body.split("\n").length + 1)), spellcheck: "false" }, body)),
    el("div", {}, el("b", {}, "Answers"), el("ul", { class: "responses" }, ...responses)),
    el("div", {}, el("button", { type: "submit" }, "Try it")),
    output);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    tryIt(form, path, method, operation).catch((err) => show(output, `Failed: ${err.message}`));
  });
  return el("details", { class: "op", "data-method": method, "data-path": path, "data-operation-id": operation.operationId ?? "" },
    el("summary", {}, el("span", { class: `method ${method}` }, method), el("span", { class: "path" }, path),
      el("span", { class: "muted" }, operation.summary ?? "")),
    form);
}

function show(output, text) {
  output.hidden = false;
  output.textContent = text;
}

// Fills the path, builds the query, gets a token for the path, sends the call.
async function tryIt(form, path, method, operation) {
  const output = form.querySelector("pre.response");
  let filled = path;
  const query = new URLSearchParams();
  for (const input of form.querySelectorAll("[data-name]")) {
    const value = input.value.trim();
    if (!value) {
      if (input.hasAttribute("required")) return show(output, `Fill in ${input.dataset.name}.`);
      continue;
    }
    if (input.dataset.in === "path") filled = filled.replace(`{${input.dataset.name}}`, encodeURIComponent(value));
    else for (const item of input.dataset.array ? value.split(",") : [value]) query.append(input.dataset.name, item.trim());
  }
  const headers = {};
  const needsToken = !(Array.isArray(operation.security) && operation.security.length === 0);
  if (needsToken) {
    const grant = await fetch("/dashboard/api/rest-token", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ path: filled }),
    });
    if (!grant.ok) {
      const why = grant.status === 401 ? "log in on the dashboard first (the call is signed with its session)" : (await grant.text());
      return show(output, `No token: ${why}`);
    }
    headers.authorization = `Bearer ${(await grant.json()).token}`;
  }
  const textarea = form.querySelector("textarea.request-body");
  const init = { method: method.toUpperCase(), headers };
  if (textarea && textarea.value.trim()) {
    headers["content-type"] = "application/json";
    init.body = textarea.value;
  }
  const url = `${filled}${query.size ? `?${query}` : ""}`;
  const response = await fetch(url, init);
  const text = await response.text();
  show(output, `${init.method} ${url}\n→ ${response.status} ${response.statusText}\n\n${text}`);
  output.dataset.status = String(response.status);
}

async function load(name) {
  for (const tab of document.querySelectorAll("[data-document]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.document === name));
  }
  $("document-link").href = `/swagger/${name}.json`;
  const response = await fetch(`/swagger/${name}.json`);
  documentRoot = await response.json();
  $("document-title").textContent = `${documentRoot.info?.title ?? name} ${documentRoot.info?.version ?? ""}`;
  $("document-description").textContent = documentRoot.info?.description ?? "";
  const operations = [];
  for (const [path, item] of Object.entries(documentRoot.paths ?? {})) {
    for (const method of METHODS) {
      if (item[method]) operations.push(renderOperation(path, method, item[method], item.parameters ?? []));
    }
  }
  $("operations").replaceChildren(...operations);
  $("operations").dataset.document = name;
  $("operations").dataset.count = String(operations.length);
}

async function session() {
  const response = await fetch("/dashboard/api/state", { credentials: "same-origin" });
  $("session").textContent = response.ok
    ? "Try it sends real calls to this server, signed for the dashboard session."
    : "Log in on the dashboard to try calls: they are signed with its session.";
}

for (const tab of document.querySelectorAll("[data-document]")) {
  tab.addEventListener("click", () => load(tab.dataset.document));
}
session();
load(new URLSearchParams(location.search).get("document") ?? DEFAULT_DOCUMENT);
