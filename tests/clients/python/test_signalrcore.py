"""signalrcore (threads, WebSockets) against signalr-emulator.

signalrcore negotiates without `negotiateVersion` (version 0 answer), then
opens the WebSocket with `id=<connectionId>` and sends the handshake with the
negotiated version as the protocol version.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading

from signalrcore.hub_connection_builder import HubConnectionBuilder
from signalrcore.types import HttpTransportType

from conftest import client_token

CONNECT_TIMEOUT_S = 10
DELIVERY_TIMEOUT_S = 5
STOP_TIMEOUT_S = 5

ARGS = ["from REST to signalrcore", 7, {"k": ["v", 1, None]}, [True, False], None]


def _stop(connection) -> None:
    """Stops the connection, bounded.

    signalrcore's stop() closes the socket and then joins its receive thread,
    but close() does not wake a recv() blocked in another thread, so stop()
    would hang until the server closes the socket. Shutting the socket down
    first wakes the thread (and sends the server a FIN).
    """
    sock = getattr(getattr(connection.transport, "_client", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    stopper = threading.Thread(target=connection.stop, name="signalrcore-stop", daemon=True)
    stopper.start()
    stopper.join(STOP_TIMEOUT_S)


def test_signalrcore_receives_rest_broadcast(emulator):
    token = client_token("py-bob")
    connection = (
        HubConnectionBuilder()
        .with_url(
            emulator.hub_url,
            options={
                "access_token_factory": lambda: token,
                "transport": HttpTransportType.web_sockets,
                "skip_negotiation": False,
            },
        )
        .build()
    )
    opened = threading.Event()
    errors: list = []
    received: queue.Queue = queue.Queue()
    connection.on_open(opened.set)
    connection.on_error(errors.append)
    connection.on("pyBroadcast", received.put)

    try:
        assert connection.start() is True
        assert opened.wait(CONNECT_TIMEOUT_S), (
            f"signalrcore did not complete the handshake within {CONNECT_TIMEOUT_S} s (errors: {errors})"
        )

        result = emulator.broadcast("pyBroadcast", ARGS)
        assert result.status == 202, str(result)

        try:
            arguments = received.get(timeout=DELIVERY_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(
                f"signalrcore did not receive the broadcast within {DELIVERY_TIMEOUT_S} s (errors: {errors})"
            ) from None
        assert arguments == ARGS
        assert errors == []
    finally:
        _stop(connection)
