"""pysignalr (asyncio, WebSockets) against signalr-emulator.

pysignalr negotiates without `negotiateVersion`, so the emulator must answer
version 0 and accept `id=<connectionId>` on the WebSocket URL.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

from conftest import client_token

CONNECT_TIMEOUT_S = 10
DELIVERY_TIMEOUT_S = 5

ARGS = [
    "héllo from REST ✓",
    42,
    -3.5,
    {"a": 1, "nested": {"b": [1, 2, 3]}, "nil": None},
    [1, "two", None, True],
    None,
    False,
]


async def _run_broadcast_check(emulator, protocol) -> list:
    token = client_token("py-alice")
    # pysignalr only puts an access_token_factory's token on the WebSocket
    # after negotiate, so the token goes in through its `headers` option.
    client = SignalRClient(
        emulator.hub_url,
        headers={"Authorization": f"Bearer {token}"},
        retry_count=1,
        connection_timeout=CONNECT_TIMEOUT_S,
        protocol=protocol,
    )
    opened = asyncio.Event()
    received: asyncio.Queue = asyncio.Queue()

    async def on_open() -> None:
        opened.set()

    async def on_broadcast(arguments) -> None:
        await received.put(arguments)

    client.on_open(on_open)
    client.on("pyBroadcast", on_broadcast)

    run_task = asyncio.create_task(client.run(), name="pysignalr-run")
    open_task = asyncio.create_task(opened.wait(), name="pysignalr-opened")
    try:
        done, _ = await asyncio.wait(
            {run_task, open_task}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if run_task in done:
            exc = run_task.exception()
            raise AssertionError(f"pysignalr client stopped before connecting: {exc!r}") from exc
        if open_task not in done:
            raise AssertionError(f"pysignalr client did not open within {CONNECT_TIMEOUT_S} s")

        result = await asyncio.to_thread(emulator.broadcast, "pyBroadcast", ARGS)
        assert result.status == 202, str(result)

        try:
            return await asyncio.wait_for(received.get(), DELIVERY_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"pysignalr client did not receive the broadcast within {DELIVERY_TIMEOUT_S} s"
            ) from None
    finally:
        for task in (open_task, run_task):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.gather(open_task, run_task, return_exceptions=True), 5)


@pytest.mark.parametrize("protocol", [JSONProtocol, MessagepackProtocol], ids=["json", "messagepack"])
def test_pysignalr_receives_rest_broadcast(emulator, protocol):
    arguments = asyncio.run(_run_broadcast_check(emulator, protocol()))
    assert arguments == ARGS
