"""The OpenAPI documents in swagger/: each is a valid OpenAPI document, and a bounded
schemathesis run against the live server finds no 5xx and no response that contradicts it.

The server runs with `--auth relaxed` (signature only), so one HS256 token signed with the
default key serves every generated path. Each run is bounded (examples per operation, a fixed
seed, a wall-clock timeout). Every check runs but two that judge how strict the server is rather
than whether it answers as documented:
- `positive_data_acceptance`: what the schema cannot express (a MessagePack body, an OData filter,
  a continuation token) is rightly refused with 400;
- `negative_data_rejection`: like ASP.NET, the server reads the first of repeated query values
  and takes an empty one as absent, so `?ttl=&ttl=x` is a valid ttl-less request, not a 400.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from conftest import REPO_ROOT, _start_emulator, _stop_emulator, mint_token

DOCUMENTS = ["v1-preview", "v1", "latest"]
MAX_EXAMPLES = 50
SEED = 20261123
RUN_TIMEOUT_S = 400
OUTPUT_TAIL_CHARS = 20_000


@pytest.fixture(scope="module")
def relaxed_emulator():
    emulator = _start_emulator(("--auth", "relaxed"))
    try:
        yield emulator
    finally:
        _stop_emulator(emulator)
        emulator.stderr_path.unlink(missing_ok=True)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_is_valid_openapi(name):
    document = json.loads((REPO_ROOT / "swagger" / f"{name}.json").read_text())
    validate(document)
    assert document["paths"], name


@pytest.mark.parametrize("name", DOCUMENTS)
def test_live_server_conforms_to_document(relaxed_emulator, name):
    token = mint_token({"aud": relaxed_emulator.base_url})
    schemathesis = Path(sys.executable).parent / "schemathesis"
    command = [
        str(schemathesis),
        "run",
        f"{relaxed_emulator.base_url}/swagger/{name}.json",
        "--url",
        relaxed_emulator.base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance,negative_data_rejection",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # Hypothesis is not thread-safe enough for several workers in one process.
        "--workers",
        "1",
        "--request-timeout",
        "10",
    ]
    started = time.monotonic()
    # Hypothesis keeps its example database in the working directory: not in the repository.
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as workdir:
        result = subprocess.run(
            command,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": workdir},
        )
    output = (result.stdout + result.stderr)[-OUTPUT_TAIL_CHARS:]
    print(f"schemathesis {name}: exit {result.returncode} in {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, f"{output}\n{relaxed_emulator.logs()}"
    assert "Tested:" in output, output
