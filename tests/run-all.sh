#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: formatting and lints, the Rust unit
# and integration tests, then the real-client suites (official @microsoft/signalr under Node,
# pysignalr and signalrcore under Python), whose packages it installs from lock files (and the
# Debian packages they need, redis-server and nginx among them, when missing), then a
# short run of every fuzz target (a crash fails it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
# The cluster tests start their own redis-server (Debian package) on a free port, or three
# clustered ones joined with redis-cli (redis-tools, which redis-server depends on).
bash tests/install-missing.sh redis-server=redis-server redis-cli=redis-tools
cargo test --locked --workspace
echo "== real clients"
cargo build --locked --bin signalr-emulator
# The README's run command must start the server, not the load generator beside it.
version=$(cargo run --locked --quiet -- --version)
[[ "$version" == "signalr-emulator "* ]] || { echo "cargo run started '$version', not the server" >&2; exit 1; }
bash tests/clients/run.sh
echo "== fuzz targets (FUZZ_SECONDS=${FUZZ_SECONDS:-15} s each)"
bash fuzz/run.sh
