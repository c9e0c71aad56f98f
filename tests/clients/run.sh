#!/usr/bin/env bash
# Runs the real-client compatibility suites (official @microsoft/signalr under
# Node and in headless Chromium, pysignalr and signalrcore under Python, and the OpenAPI
# documents checked by openapi-spec-validator and schemathesis) against a built
# signalr-emulator binary ($SIGNALR_EMULATOR_BIN, default
# <repo>/target/debug/signalr-emulator). Installs the locked dependencies
# first. Both suites always run; exits non-zero if either failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export SIGNALR_EMULATOR_BIN="${SIGNALR_EMULATOR_BIN:-$repo/target/debug/signalr-emulator}"

if [[ ! -x "$SIGNALR_EMULATOR_BIN" ]]; then
  echo "run.sh: signalr-emulator binary not found or not executable: $SIGNALR_EMULATOR_BIN" >&2
  echo "run.sh: build it first (cargo build) or set SIGNALR_EMULATOR_BIN" >&2
  exit 2
fi

python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then
      python_bin="$candidate"
      break
    fi
  done
fi
if [[ -z "$python_bin" ]]; then
  echo "run.sh: no python3 found" >&2
  exit 2
fi

status=0

# The browser test drives Debian's Chromium (never a downloaded browser); the TLS test trusts
# its CA in an NSS database with certutil (libnss3-tools) and makes it with openssl; the cluster
# tests start their own redis-server and put Debian's nginx in front of the nodes.
chromium_bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
bash "$repo/tests/install-missing.sh" "$chromium_bin=chromium" certutil=libnss3-tools \
  openssl=openssl redis-server=redis-server nginx=nginx

echo "== node: npm ci"
(cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)

echo "== python: venv + locked requirements"
venv="$here/python/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python_bin" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/python/requirements.lock"

echo "== node: @microsoft/signalr tests"
if ! (cd "$here/node" && node --test --test-reporter=spec); then
  echo "run.sh: node client tests FAILED" >&2
  status=1
fi

echo "== python: pysignalr / signalrcore / OpenAPI tests"
if ! (cd "$here/python" && "$venv/bin/python" -m pytest -q); then
  echo "run.sh: python client tests FAILED" >&2
  status=1
fi

if [[ $status -eq 0 ]]; then
  echo "run.sh: all client suites passed"
fi
exit "$status"
