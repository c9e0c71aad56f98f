// Socket.IO 4 baseline for benches/run.sh: what users would otherwise pick. WebSocket transport
// only (the load generator speaks Engine.IO v4 over WebSocket), no compression, and an HTTP
// trigger: POST /broadcast emits the request body as event "m" to every client with io.emit.
// Usage: node server.js <port>   (binds 127.0.0.1 only)
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 9300);

const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/broadcast") {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      io.emit("m", Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "content-length": "0" });
      res.end();
    });
    return;
  }
  res.writeHead(404, { "content-length": "0" });
  res.end();
});

const io = new Server(server, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
});

server.listen(port, "127.0.0.1", () => {
  console.error(`socket.io server listening on 127.0.0.1:${port}`);
});
