"""Shared fixtures for the Python real-client tests.

Starts `signalr-emulator start --port 0` once per session, mints tokens the
way the Azure SDKs do, and calls the v1 REST API. The emulator's output is
attached to every failing test's report.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
ACCESS_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
HUB = "chat"
# Never "localhost": it may resolve to ::1.
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 20
SHUTDOWN_TIMEOUT_S = 10
CONNECTION_STRING_RE = re.compile(
    r"Endpoint=http://localhost;Port=(\d+);AccessKey=([^;\s]+);Version=1\.0;"
)
LOG_TAIL_CHARS = 20_000


def emulator_binary() -> Path:
    env = os.environ.get("SIGNALR_EMULATOR_BIN")
    return Path(env) if env else REPO_ROOT / "target" / "debug" / "signalr-emulator"


def mint_token(claims: dict, key: str = ACCESS_KEY) -> str:
    """HS256 token signed with the UTF-8 bytes of the key, exp = now + 1 h."""
    now = int(time.time())
    payload = {"iat": now, "exp": now + 3600, **claims}
    return jwt.encode(payload, key.encode("utf-8"), algorithm="HS256")


def client_token(user_id: str, hub: str = HUB) -> str:
    """A client token as the Azure SDK issues it (aud without the port)."""
    return mint_token({"aud": f"http://localhost/client/?hub={hub}", "nameid": user_id})


@dataclass
class RestResult:
    status: int
    text: str
    request: str

    def __str__(self) -> str:
        return f"{self.request} -> {self.status} {self.text}"


@dataclass
class Emulator:
    process: subprocess.Popen
    port: int
    access_key: str
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def hub_url(self) -> str:
        return f"{self.base_url}/client/?hub={HUB}"

    def logs(self) -> str:
        stdout = "".join(self.stdout_lines)
        try:
            stderr = self.stderr_path.read_text(errors="replace")
        except OSError as exc:  # pragma: no cover - diagnostics only
            stderr = f"<cannot read {self.stderr_path}: {exc}>"
        status = "running" if self.process.poll() is None else f"exited {self.process.returncode}"
        return (
            f"----- signalr-emulator (pid {self.process.pid}, port {self.port}, {status}) stdout -----\n"
            f"{stdout[-LOG_TAIL_CHARS:]}\n"
            f"----- signalr-emulator stderr -----\n{stderr[-LOG_TAIL_CHARS:]}\n"
        )

    def rest(self, method: str, path: str, *, query=(), body=None) -> RestResult:
        """Calls the REST API; `path` has no query, `query` is (name, value) pairs."""
        token = mint_token({"aud": f"{self.base_url}{path}"})
        headers = {"Authorization": f"Bearer {token}"}
        kwargs = {}
        if body is not None:
            kwargs["json"] = body  # sets Content-Type: application/json
        response = requests.request(
            method,
            f"{self.base_url}{path}",
            params=list(query),
            headers=headers,
            timeout=10,
            **kwargs,
        )
        return RestResult(
            status=response.status_code,
            text=response.text,
            request=f"{method} {response.request.url} {response.request.body or b''!r}",
        )

    def broadcast(self, target: str, arguments: list) -> RestResult:
        return self.rest("POST", f"/api/v1/hubs/{HUB}", body={"target": target, "arguments": arguments})

    def connection_path(self, connection_id: str) -> str:
        return f"/api/v1/hubs/{HUB}/connections/{quote(connection_id, safe='')}"


def _start_emulator(extra_args: tuple[str, ...] = ()) -> Emulator:
    """Starts the binary on a free port with `extra_args` and waits for its connection string."""
    binary = emulator_binary()
    if not binary.exists():
        pytest.fail(
            f"signalr-emulator binary not found at {binary}; build it first or set SIGNALR_EMULATOR_BIN",
            pytrace=False,
        )
    stderr_file = tempfile.NamedTemporaryFile(prefix="signalr-emulator-", suffix=".stderr", delete=False)
    process = subprocess.Popen(
        [str(binary), "start", "--port", "0", *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
        # Debug logs only show up in the report of a failing test.
        env={"RUST_LOG": "signalr_emulator=debug", **os.environ, "NO_COLOR": "1"},
    )
    stderr_file.close()
    emulator = Emulator(process=process, port=0, access_key="", stderr_path=Path(stderr_file.name))
    found = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            emulator.stdout_lines.append(line)
            if not found.is_set():
                match = CONNECTION_STRING_RE.search(line)
                if match:
                    emulator.port = int(match.group(1))
                    emulator.access_key = match.group(2)
                    found.set()

    threading.Thread(target=pump, name="emulator-stdout", daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not found.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            logs = emulator.logs()
            _stop_emulator(emulator)
            pytest.fail(
                "signalr-emulator did not print `Endpoint=http://localhost;Port=<PORT>;...` "
                f"within {STARTUP_TIMEOUT_S} s (exit code {process.poll()})\n{logs}",
                pytrace=False,
            )
    return emulator


def _stop_emulator(emulator: Emulator) -> None:
    process = emulator.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


_current_emulator: Emulator | None = None


@pytest.fixture(scope="session")
def emulator():
    global _current_emulator
    emu = _start_emulator()
    _current_emulator = emu
    try:
        yield emu
    finally:
        _current_emulator = None
        _stop_emulator(emu)
        try:
            emu.stderr_path.unlink()
        except OSError:
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _current_emulator is not None:
        report.sections.append(("signalr-emulator output", _current_emulator.logs()))
