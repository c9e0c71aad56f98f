#!/usr/bin/env bash
# Installs the Debian packages whose program a test needs and this machine lacks, with apt-get
# (root, or sudo): nothing is downloaded from anywhere else. Each argument is PROGRAM=PACKAGE,
# PROGRAM an absolute path or a name looked up on PATH (plus /usr/sbin, where Debian puts
# daemons), e.g. `redis-server=redis-server /usr/bin/chromium=chromium`.
set -euo pipefail

packages=()
for pair in "$@"; do
  program=${pair%%=*}
  package=${pair#*=}
  if [[ $program == /* ]]; then
    [[ -x $program ]] && continue
  else
    PATH="$PATH:/usr/sbin" command -v "$program" >/dev/null 2>&1 && continue
  fi
  packages+=("$package")
done
[[ ${#packages[@]} -eq 0 ]] && exit 0

echo "== installing Debian's ${packages[*]} for the tests"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
# policy-rc.d exit 101 keeps the packages' services (redis, nginx) from starting on install:
# the tests start their own, on free ports.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$policy"
  trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
