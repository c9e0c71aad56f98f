#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: formatting and lints, the Rust unit
# and integration tests, then the real-client suites (official @microsoft/signalr under Node,
# pysignalr and signalrcore under Python), whose packages it installs from lock files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --workspace
echo "== real clients"
cargo build --locked --bin signalr-emulator
# The README's run command must start the server, not the load generator beside it.
version=$(cargo run --locked --quiet -- --version)
[[ "$version" == "signalr-emulator "* ]] || { echo "cargo run started '$version', not the server" >&2; exit 1; }
bash tests/clients/run.sh
