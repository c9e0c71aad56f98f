// The small hub the simulated app server hosts: the methods a relayed client may invoke. Each
// answers through the same ServiceProtocol messages an ASP.NET Core hub would make the SDK send
// (Clients.All → BroadcastData, Groups.AddToGroupAsync → JoinGroupWithAck, Clients.Client(id)
// .InvokeAsync → ClientInvocation, ...).

/** Target names the hub's own messages use, so tests can listen for them. */
export const Targets = Object.freeze({
  broadcast: "broadcast",
  group: "groupMessage",
  user: "userMessage",
  ask: "ask",
});

/**
 * The hub methods, by name: `(context, ...arguments) => result` where `context` is
 * `{app, client}` (the AppServer and the calling RelayedClient).
 */
export const hubMethods = {
  echo: (_ctx, value) => value,
  whoami: ({ client }) => ({
    connectionId: client.connectionId,
    userId: client.userId,
    protocol: client.protocol,
    queryString: client.queryString,
    serviceConnectionId: client.service.connectionId,
    serverId: client.service.serverId,
  }),
  broadcast: async ({ app, client }, message) => {
    await app.broadcast(Targets.broadcast, [client.userId, message], { via: client.service });
    return null;
  },
  joinGroup: async ({ app, client }, group) =>
    (await app.addToGroup(client.connectionId, group, { via: client.service })).status,
  leaveGroup: async ({ app, client }, group) =>
    (await app.removeFromGroup(client.connectionId, group, { via: client.service })).status,
  sendToGroup: async ({ app, client }, group, message) => {
    await app.sendToGroup(group, Targets.group, [group, client.userId, message], {
      via: client.service,
    });
    return null;
  },
  sendToUser: async ({ app, client }, userId, message) => {
    await app.sendToUser(userId, Targets.user, [client.userId, message], { via: client.service });
    return null;
  },
  invokeClient: ({ app }, connectionId, question) =>
    app.invokeClient(connectionId, Targets.ask, [question]),
};
