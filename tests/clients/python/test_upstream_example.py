"""The README's example upstream (tests/clients/upstream-example/upstream.py)
starts, checks X-ASRS-Signature and answers invocations with framed Completions."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from conftest import ACCESS_KEY

EXAMPLE = Path(__file__).resolve().parents[1] / "upstream-example" / "upstream.py"
TIMEOUT_S = 10


@pytest.fixture
def upstream_url():
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "0"], stdout=subprocess.PIPE, text=True
    )
    # readline() returns at EOF if the process dies; the timer bounds a silent hang.
    watchdog = threading.Timer(TIMEOUT_S, process.kill)
    watchdog.start()
    first = process.stdout.readline().strip()
    watchdog.cancel()
    assert first.startswith("listening on http://127.0.0.1:"), first
    yield first.removeprefix("listening on ")
    process.terminate()
    process.wait(timeout=TIMEOUT_S)


def headers(category: str, event: str, key: str = ACCESS_KEY) -> dict[str, str]:
    connection_id = "conn-1"
    digest = hmac.new(key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()
    return {
        "X-ASRS-Connection-Id": connection_id,
        "X-ASRS-Hub": "chat",
        "X-ASRS-Category": category,
        "X-ASRS-Event": event,
        "X-ASRS-Signature": f"sha256={digest.upper()},sha256=00",
        "Content-Type": "application/json",
    }


def test_connected_is_acknowledged(upstream_url):
    response = requests.post(
        upstream_url, data='{"type":10}', headers=headers("connections", "connected"), timeout=TIMEOUT_S
    )
    assert response.status_code == 200


def test_invocations_get_a_framed_completion(upstream_url):
    body = '{"type":1,"invocationId":"3","target":"add","arguments":[2,3]}'
    response = requests.post(upstream_url, data=body, headers=headers("messages", "add"), timeout=TIMEOUT_S)
    assert response.status_code == 200
    assert response.content == b'{"type": 3, "invocationId": "3", "result": 5}\x1e'

    send = '{"type":1,"target":"echo","arguments":["hi"]}'
    response = requests.post(upstream_url, data=send, headers=headers("messages", "echo"), timeout=TIMEOUT_S)
    assert (response.status_code, response.content) == (200, b"")


def test_bad_signatures_and_unknown_targets_are_refused(upstream_url):
    response = requests.post(
        upstream_url, data="{}", headers=headers("connections", "connected", key="wrong"), timeout=TIMEOUT_S
    )
    assert response.status_code == 401
    body = '{"type":1,"invocationId":"1","target":"nope","arguments":[]}'
    response = requests.post(upstream_url, data=body, headers=headers("messages", "nope"), timeout=TIMEOUT_S)
    assert response.status_code == 404
