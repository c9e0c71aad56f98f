"""pysignalr clients of a serverless hub reached through a Weak server connection.

The Management SDK's persistent transport (SERVICE-PROTOCOL.md §11) sends BroadcastData and
UserData over `/server/?hub=` instead of REST; the session emulator runs in the default
`classic` service mode, where a hub with only a Weak connection stays serverless.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

from conftest import HUB, client_token
from weak_connection import WeakConnection

CONNECT_TIMEOUT_S = 10
DELIVERY_TIMEOUT_S = 5
ARGS = ["héllo from a Weak connection ✓", 7, {"nested": [1, None, True]}]


async def _run(emulator, protocol) -> dict[str, list]:
    user = "py-weak"
    client = SignalRClient(
        emulator.hub_url,
        headers={"Authorization": f"Bearer {client_token(user)}"},
        retry_count=1,
        connection_timeout=CONNECT_TIMEOUT_S,
        protocol=protocol,
    )
    opened = asyncio.Event()
    received: dict[str, asyncio.Queue] = {"fromWeak": asyncio.Queue(), "toUser": asyncio.Queue()}

    async def on_open() -> None:
        opened.set()

    client.on_open(on_open)
    for target, queue in received.items():

        async def put(arguments, queue=queue) -> None:
            await queue.put(arguments)

        client.on(target, put)

    run_task = asyncio.create_task(client.run(), name="pysignalr-run")
    try:
        await asyncio.wait_for(opened.wait(), CONNECT_TIMEOUT_S)
        async with WeakConnection(emulator.base_url, HUB, emulator.access_key) as weak:
            await weak.broadcast("fromWeak", ARGS)
            await weak.send_to_user(user, "toUser", ARGS)
            return {
                target: await asyncio.wait_for(queue.get(), DELIVERY_TIMEOUT_S)
                for target, queue in received.items()
            }
    finally:
        run_task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.gather(run_task, return_exceptions=True), 5)


@pytest.mark.parametrize("protocol", [JSONProtocol, MessagepackProtocol], ids=["json", "messagepack"])
def test_weak_connection_reaches_pysignalr(emulator, protocol):
    got = asyncio.run(_run(emulator, protocol()))
    assert got == {"fromWeak": ARGS, "toUser": ARGS}
