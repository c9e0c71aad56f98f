// One server connection to the service's `/server/?hub=&cid=` endpoint, as the Azure SignalR
// SDK opens it (SERVICE-PROTOCOL.md §1, §3, §4): a WebSocket with the SDK's headers and token,
// the ServiceProtocol handshake, pings both ways, and the received byte stream cut into
// messages whatever the WebSocket frame boundaries. Acks are awaited by ackId, with ids from one
// process-wide counter as in the SDK.

import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";

import WebSocket from "ws";

import { ConnectionType, Type, parse, typeName, write } from "./messages.mjs";
import { serverToken } from "./token.mjs";
import { FrameReader, concatBytes } from "./varint.mjs";

export const USER_AGENT = "Microsoft.Azure.SignalR/1.30.0 (.NET 8.0; node simulator)";
const HANDSHAKE_TIMEOUT_MS = 15_000;
const ACK_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 5_000;
const RECEIVED_LOG_LIMIT = 5_000;

let lastAckId = 0;
/** The next ack id; one counter for every connection of the process, as in the SDK. */
export const nextAckId = () => ++lastAckId;

/** The service refused the WebSocket upgrade: its HTTP status and body. */
export class UpgradeRejected extends Error {
  constructor(status, body) {
    super(`the service refused the server connection: HTTP ${status} ${body}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * How outgoing messages map onto WebSocket frames: `"whole"` one frame per message, `"split"`
 * every message cut into `splitBytes`-sized frames, `"batch"` everything written in one turn of
 * the event loop coalesced into a single frame.
 */
export const WriteMode = Object.freeze({ Whole: "whole", Split: "split", Batch: "batch" });

export class ServiceConnection extends EventEmitter {
  /**
   * @param {object} o
   * @param {string} o.baseUrl e.g. http://127.0.0.1:1234
   * @param {string} o.hub
   * @param {string} o.accessKey
   * @param {string} o.serverId
   * @param {number} [o.connectionType] ConnectionType.*
   * @param {string} [o.token] replaces the SDK-style token (auth error tests)
   * @param {object} [o.headers] extra or replacing request headers
   * @param {object} [o.handshake] fields of the HandshakeRequest (version, target, ...)
   * @param {string} [o.writeMode] WriteMode.*
   * @param {boolean} [o.keepAlive] send the SDK's keep-alive and status pings
   */
  constructor({
    baseUrl,
    hub,
    accessKey,
    serverId,
    connectionType = ConnectionType.Default,
    token,
    headers = {},
    handshake = {},
    writeMode = WriteMode.Whole,
    splitBytes = 3,
    keepAlive = true,
    connectionId = randomUUID(),
    query = "",
  }) {
    super();
    this.setMaxListeners(100);
    this.baseUrl = baseUrl;
    this.hub = hub;
    this.serverId = serverId;
    this.connectionType = connectionType;
    this.connectionId = connectionId;
    this.token = token ?? serverToken({ accessKey, baseUrl, hub, serverId });
    this.headers = {
      Authorization: `Bearer ${this.token}`,
      "X-ASRS-Server-Id": serverId,
      "Asrs-User-Agent": USER_AGENT,
      "X-Requested-With": "XMLHttpRequest",
      ...headers,
    };
    this.handshake = { connectionType, ...handshake };
    this.writeMode = writeMode;
    this.splitBytes = splitBytes;
    this.keepAlive = keepAlive;
    this.query = query;
    this.reader = new FrameReader();
    this.received = [];
    this.pendingAcks = new Map();
    this.batch = [];
    this.lastSentAt = 0;
    this.lastReceivedAt = 0;
    this.textFrames = 0;
    this.ws = null;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get url() {
    const ws = this.baseUrl.replace(/^http/, "ws");
    const hub = encodeURIComponent(this.hub);
    return `${ws}/server/?hub=${hub}&cid=${encodeURIComponent(this.connectionId)}${this.query}`;
  }

  /**
   * Opens the WebSocket and sends the HandshakeRequest; resolves with the HandshakeResponse
   * (whose `error` may be set), rejects with UpgradeRejected on an HTTP refusal.
   */
  open(timeoutMs = HANDSHAKE_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no HandshakeResponse within ${timeoutMs} ms on ${this.url}`));
        this.terminate();
      }, timeoutMs);
      const settle = (fn, value) => {
        clearTimeout(timer);
        fn(value);
      };
      const ws = new WebSocket(this.url, { headers: this.headers, perMessageDeflate: false });
      this.ws = ws;
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => {
          settle(reject, new UpgradeRejected(res.statusCode, body));
          ws.terminate();
        });
        res.on("error", (err) => settle(reject, err));
      });
      ws.on("error", (err) => settle(reject, err));
      ws.on("open", () => {
        this.send(write.handshakeRequest(this.handshake));
      });
      let handshaken = false;
      ws.on("message", (data, isBinary) => {
        if (!isBinary) this.textFrames++;
        for (const body of this.reader.push(new Uint8Array(data))) {
          const message = parse(body);
          this.lastReceivedAt = Date.now();
          if (!handshaken) {
            handshaken = true;
            if (message.type !== Type.HandshakeResponse) {
              settle(reject, new Error(`the first message was ${typeName(message.type)}, not HandshakeResponse`));
              this.terminate();
              return;
            }
            this.handshakeResponse = message;
            if (!message.error) this.startKeepAlive();
            settle(resolve, message);
            continue;
          }
          this.onMessage(message);
        }
      });
      ws.on("close", (code, reason) => {
        this.stopKeepAlive();
        this.closeInfo = { code, reason: reason.toString() };
        for (const pending of this.pendingAcks.values()) {
          pending.reject(new Error(`server connection closed (${code}) before ack ${pending.ackId}`));
        }
        this.pendingAcks.clear();
        settle(reject, new Error(`the WebSocket closed (${code} ${reason}) before the handshake completed`));
        this.resolveClosed(this.closeInfo);
        this.emit("close", this.closeInfo);
      });
    });
  }

  /** Opens and fails unless the handshake succeeded. */
  async start(timeoutMs) {
    const response = await this.open(timeoutMs);
    if (response.error) {
      this.terminate();
      throw new Error(`handshake refused: ${response.error}`);
    }
    return this;
  }

  onMessage(message) {
    this.received.push(message);
    if (this.received.length > RECEIVED_LOG_LIMIT) this.received.shift();
    if (message.type === Type.Ping) this.onPing(message.pairs);
    if (message.type === Type.Ack) {
      const pending = this.pendingAcks.get(message.ackId);
      if (pending) {
        this.pendingAcks.delete(message.ackId);
        pending.resolve(message);
      }
    }
    this.emit("message", message);
  }

  onPing(pairs) {
    if (pairs[0] === "echo") this.send(write.ping("echo", pairs[1]));
  }

  startKeepAlive() {
    if (!this.keepAlive) return;
    this.keepAliveTimer = setInterval(() => {
      if (Date.now() - this.lastSentAt >= KEEP_ALIVE_MS && this.lastReceivedAt > 0) {
        this.send(write.ping("#clientInHub", "0", "#client", "0"));
      }
    }, KEEP_ALIVE_MS);
    this.statusTimer = setInterval(() => this.send(write.ping("status", "1")), 2 * KEEP_ALIVE_MS);
    this.keepAliveTimer.unref();
    this.statusTimer.unref();
  }

  stopKeepAlive() {
    clearInterval(this.keepAliveTimer);
    clearInterval(this.statusTimer);
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Writes framed message bytes, mapped onto frames by the write mode. */
  send(bytes) {
    if (!this.isOpen) throw new Error(`server connection ${this.connectionId} is not open`);
    this.lastSentAt = Date.now();
    if (this.writeMode === WriteMode.Split) {
      for (let i = 0; i < bytes.length; i += this.splitBytes) {
        this.ws.send(bytes.subarray(i, i + this.splitBytes), { binary: true });
      }
    } else if (this.writeMode === WriteMode.Batch) {
      if (this.batch.length === 0) setImmediate(() => this.flushBatch());
      this.batch.push(bytes);
    } else {
      this.ws.send(bytes, { binary: true });
    }
  }

  flushBatch() {
    const parts = this.batch;
    this.batch = [];
    if (parts.length && this.isOpen) this.ws.send(concatBytes(parts), { binary: true });
  }

  /**
   * Sends a message carrying an ack id (`build(ackId)` returns its bytes) and resolves with the
   * service's Ack, or rejects after the SDK's 10 s.
   */
  request(build, timeoutMs = ACK_TIMEOUT_MS) {
    const ackId = nextAckId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAcks.delete(ackId);
        reject(new Error(`no Ack for ackId ${ackId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAcks.set(ackId, {
        ackId,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      try {
        this.send(build(ackId));
      } catch (err) {
        this.pendingAcks.get(ackId)?.reject(err);
        this.pendingAcks.delete(ackId);
      }
    });
  }

  /**
   * Resolves with the first message (already received or arriving within `ms`) for which
   * `predicate` holds.
   */
  waitForMessage(predicate, ms, what) {
    const seen = this.received.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onMessage = (m) => {
        if (predicate(m)) {
          cleanup();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.off("message", onMessage);
      };
      this.on("message", onMessage);
    });
  }

  /** A clean WebSocket close. */
  close(code = 1000) {
    this.stopKeepAlive();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(code);
    return this.closed;
  }

  /** Drops the TCP connection without a close frame, as a crashed app server would. */
  terminate() {
    this.stopKeepAlive();
    this.ws?.terminate();
  }
}
