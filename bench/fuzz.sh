#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time and reports how many inputs each executed.
#
#   bench/fuzz.sh [--seconds N] [--jobs J] [target …]     (default: 600 s each, 2 at a time)
#
# Builds build-fuzz/ with clang-16 (-DIMGORIGIN_FUZZ=ON, ASan + UBSan + libFuzzer) against
# Debian's libvips, whose libraries keep their own symbols (the npm build bundles glib, pango and
# fontconfig into one .so, so leak reports could not be told apart). Each target works on a copy
# of tests/fuzz/corpus/<target>, so the tree is never written to; findings land in
# bench/work/fuzz/<target>/ (crash-*, leak-*, timeout-*), to be reduced and added to the corpus
# as crash-* files by hand. Exit status 1 when any target found something.
set -euo pipefail
ulimit -c 0  # findings are written by libFuzzer; core dumps never land in the tree
cd "$(dirname "$0")/.."
seconds=600
jobs=2
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || mapfile -t targets < <(ls tests/fuzz/corpus)

./scripts/setup >/dev/null
CXX=clang++-16 CC=clang-16 cmake -S . -B build-fuzz -DIMGORIGIN_FUZZ=ON -DIMGORIGIN_LIBVIPS=system \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

work=bench/work/fuzz
rm -rf "$work"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run() {
  local t=$1 dir="$work/$1"
  mkdir -p "$dir/corpus" "$dir/findings"
  cp -r "tests/fuzz/corpus/$t/." "$dir/corpus/"
  # decode renders images: generous memory and a per-input timeout that still flags hangs.
  timeout $((seconds + 120)) "build-fuzz/tests/fuzz/fuzz_$t" "$dir/corpus" \
    -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=15 -print_final_stats=1 \
    -artifact_prefix="$dir/findings/" >"$dir/log" 2>&1 || true
}
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then wait -n; running=$((running - 1)); fi
done
wait

status=0
printf '| target | seconds | execs | execs/s | corpus | findings |\n|---|---:|---:|---:|---:|---|\n'
for t in "${targets[@]}"; do
  dir="$work/$t"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$' || echo 0)
  findings=$(ls "$dir/findings" | tr '\n' ' ')
  [ -n "$findings" ] && status=1
  printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "${execs:-0}" \
    "$(( ${execs:-0} / seconds ))" "$(ls "$dir/corpus" | wc -l)" "${findings:-none}"
done
exit $status
