// The cluster part of the dashboard (only with --redis): the nodes card, and the connections
// other nodes hold merged into the hub cards, each connection labelled with its node. Without a
// cluster (state.cluster is null) the card stays hidden and the hubs are left as they are.
// Uses dom.js.
"use strict";

const dashboardNodes = (() => {
  // A uuid's first block tells the nodes of one cluster apart.
  const shortId = (id) => id.split("-")[0];

  const LEASE_TITLES = {
    held: "this node renews its lease",
    lost: "this node cannot renew its lease: Redis is unavailable",
    current: "its lease has not run out",
    unknown: "Redis could not be read",
  };

  function render(cluster) {
    const panel = $("nodes-panel");
    panel.hidden = !cluster;
    if (!cluster) return;
    $("node-count").textContent = plural(cluster.nodes.length, "node");
    $("nodes-error").hidden = !cluster.error;
    $("nodes-error").textContent = cluster.error ? `The other nodes are unknown: ${cluster.error}` : "";
    $("nodes").replaceChildren(
      el("thead", {}, el("tr", {}, ...["Node", "URL", "Lease", "Connections"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...cluster.nodes.map((node) => el("tr", { "data-node": node.id },
        el("td", { class: "id", title: node.id }, shortId(node.id), node.local ? el("span", { class: "tag this-node" }, "this node") : null),
        el("td", { class: "mono" }, node.url),
        el("td", {}, el("span", { class: `lease ${node.lease}`, title: LEASE_TITLES[node.lease] ?? "" }, node.lease)),
        el("td", { class: "mono" }, node.connectionCount === null ? el("span", { class: "muted" }, "unknown") : String(node.connectionCount)))),
      ));
  }

  // The hubs with every connection's node: this node's own, then those of the other nodes
  // (hubs only they have get a card of their own), and the users of all of them. Groups stay
  // this node's: the other nodes' mirrors are not read for them.
  function mergeHubs(hubs, cluster) {
    if (!cluster) return hubs;
    const merged = hubs.map((hub) => ({
      ...hub,
      connections: hub.connections.map((c) => ({ ...c, node: cluster.node })),
      users: hub.users.map((u) => ({ ...u })),
    }));
    const byName = new Map(merged.map((hub) => [hub.name, hub]));
    for (const node of cluster.nodes) {
      for (const c of node.connections) {
        let hub = byName.get(c.hub);
        if (!hub) {
          hub = { name: c.hub, mode: null, connections: [], users: [], groups: [], servers: [] };
          byName.set(c.hub, hub);
          merged.push(hub);
        }
        hub.connections.push({ id: c.id, userId: c.userId, node: node.id, remote: true });
        if (c.userId !== null) {
          const user = hub.users.find((u) => u.name === c.userId);
          if (user) user.connections += 1;
          else hub.users.push({ name: c.userId, connections: 1 });
        }
      }
    }
    const byText = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const hub of merged) hub.users.sort(byText);
    merged.sort(byText);
    return merged;
  }

  // The "Node" cell of a connection row.
  function nodeCell(connection) {
    return el("td", { class: "id", title: connection.node }, shortId(connection.node));
  }

  return { render, mergeHubs, nodeCell };
})();
