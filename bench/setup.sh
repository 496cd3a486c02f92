#!/usr/bin/env bash
# Installs what the benchmarks need beyond scripts/setup: the peers (nginx with image_filter from
# Debian, ipx on sharp from npm, pinned in bench/package.json), the load generator (wrk) and the
# chart tool (gnuplot). Only bench/load/run.sh calls it, never the build or the tests.
# Idempotent: does nothing when everything is present. Debian 12 (bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup

debs=(nginx-light libnginx-mod-http-image-filter wrk gnuplot-nox procps)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bench/setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # The package starts a system nginx on port 80; the benchmark runs its own instances.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    $sudo_cmd systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

if [ ! -d bench/node_modules ] || [ bench/package.json -nt bench/node_modules ]; then
  (cd bench && npm install --no-audit --no-fund --silent)
  touch bench/node_modules
fi
