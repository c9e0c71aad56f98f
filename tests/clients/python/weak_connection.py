"""A Management SDK persistent-transport peer (a Weak server connection), for the Python tests.

Written from SERVICE-PROTOCOL.md with the `msgpack` library, independently of the emulator's
codec and of the Node simulator: it signs the SDK's server token, opens `/server/?hub=&cid=`,
handshakes as connection type 2 (Weak) and sends pre-framed fan-out messages.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from urllib.parse import urlsplit

import aiohttp
import jwt
import msgpack

HANDSHAKE_REQUEST = 1
HANDSHAKE_RESPONSE = 2
PING = 3
USER_DATA = 8
BROADCAST_DATA = 10
WEAK = 2
TIMEOUT_S = 10


def varint_frame(body: bytes) -> bytes:
    """`body` with its varint length prefix (7-bit groups, little-endian)."""
    prefix = bytearray()
    n = len(body)
    while True:
        byte = n & 0x7F
        n >>= 7
        prefix.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(prefix) + body


def read_frames(buffer: bytearray) -> list[bytes]:
    """Takes every complete varint-framed message off the front of `buffer`."""
    bodies = []
    while True:
        length, shift, i = 0, 0, 0
        while i < len(buffer) and i < 5:
            length |= (buffer[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not buffer[i - 1] & 0x80:
                break
        else:
            return bodies
        if len(buffer) - i < length:
            return bodies
        bodies.append(bytes(buffer[i : i + length]))
        del buffer[: i + length]


def invocation_payloads(target: str, arguments: list) -> dict[str, bytes]:
    """One invocation framed for both hub protocols, as the SDK's fan-out payload map."""
    text = json.dumps({"type": 1, "target": target, "arguments": arguments}) + "\x1e"
    binary = msgpack.packb([1, {}, None, target, arguments])
    return {"json": text.encode(), "messagepack": varint_frame(binary)}


def server_token(base_url: str, hub: str, access_key: str, server_id: str) -> str:
    host = urlsplit(base_url).hostname
    now = int(time.time())
    claims = {
        "aud": f"http://{host}/server/?hub={hub}",
        "nameid": server_id,
        "iss": "azure-signalr",
        "nbf": now,
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, access_key.encode("utf-8"), algorithm="HS256")


class WeakConnection:
    """One Weak server connection; use as `async with WeakConnection(...) as weak:`."""

    def __init__(self, base_url: str, hub: str, access_key: str) -> None:
        self.base_url = base_url
        self.hub = hub
        self.access_key = access_key
        self.server_id = f"pytest_{uuid.uuid4().hex}"
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> "WeakConnection":
        self.session = aiohttp.ClientSession()
        url = f"{self.base_url.replace('http', 'ws', 1)}/server/?hub={self.hub}&cid={uuid.uuid4()}"
        token = server_token(self.base_url, self.hub, self.access_key, self.server_id)
        self.ws = await self.session.ws_connect(
            url,
            headers={
                "Authorization": f"Bearer {token}",
                "X-ASRS-Server-Id": self.server_id,
                "Asrs-User-Agent": "Microsoft.Azure.SignalR.Management/1.30.0 (pytest)",
            },
            timeout=aiohttp.ClientWSTimeout(ws_receive=TIMEOUT_S),
        )
        await self.send([HANDSHAKE_REQUEST, 1, WEAK, "", 0, {}, False])
        response = await asyncio.wait_for(self._first_message(), TIMEOUT_S)
        if response[0] != HANDSHAKE_RESPONSE or response[1]:
            raise AssertionError(f"Weak handshake refused: {response!r}")
        return self

    async def _first_message(self) -> list:
        buffer = bytearray()
        while True:
            message = await self.ws.receive()
            if message.type != aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"unexpected frame from the service: {message!r}")
            buffer += message.data
            for body in read_frames(buffer):
                decoded = msgpack.unpackb(body, strict_map_key=False)
                if decoded[0] != PING:
                    return decoded

    async def send(self, message: list) -> None:
        await self.ws.send_bytes(varint_frame(msgpack.packb(message)))

    async def broadcast(self, target: str, arguments: list) -> None:
        await self.send([BROADCAST_DATA, [], invocation_payloads(target, arguments), {}])

    async def send_to_user(self, user_id: str, target: str, arguments: list) -> None:
        await self.send([USER_DATA, user_id, invocation_payloads(target, arguments), {}])

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
