#!/usr/bin/env bash
# Images per second over a directory of 2 MP photos: `imgorigin batch` against the `vips` command
# run once per image (as a shell loop over a catalogue would), both on Debian's libvips 8.14 and
# using every core (batch: --jobs = cores; vips: xargs -P cores). Same operation: fit 800 px,
# WebP q75, metadata stripped.
#
#   bench/batch/corpus.sh [--count N] [--no-build] [--npm]
#
# --npm also runs batch built on the npm libvips 8.17 (build/, the default build), next to the
# Debian 8.14 one the comparison with /usr/bin/vips is about.
# The corpus is bench/load/run.sh's: 40 photo-like 2048×1365 JPEGs (bench/micro/corpus.h), made
# here when missing and repeated up to N images (default 200) by hard links under new names.
set -euo pipefail
cd "$(dirname "$0")/../.."

count=200
build=1
npm=0
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --npm) npm=1; shift ;;
    *) echo "usage: $0 [--count N] [--no-build] [--npm]" >&2; exit 2 ;;
  esac
done

vips=/usr/bin/vips
bin=build-system
work=bench/work/batch-corpus
cores=$(nproc)
[ -x "$vips" ] || { echo "corpus.sh: $vips (Debian's libvips-tools) is missing" >&2; exit 1; }
if [ "$build" = 1 ]; then
  cmake -S . -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGORIGIN_LIBVIPS=system \
    -DIMGORIGIN_BUILD_BENCH=ON >/dev/null
  cmake --build "$bin" -j"$cores" --target imgorigin imgorigin_make_corpus >/dev/null
fi

mkdir -p bench/work/corpus "$work"
[ -s bench/work/corpus/photo039.jpg ] ||
  "$bin/bench/imgorigin_make_corpus" bench/work/corpus 40 2048 1365 >/dev/null
rm -rf "$work/in" && mkdir -p "$work/in"
for ((i = 0; i < count; i++)); do
  ln -f "bench/work/corpus/photo$(printf %03d $((i % 40))).jpg" "$work/in/img$(printf %05d "$i").jpg"
done
bytes=$(find -L "$work/in" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
echo "corpus: $count images, $((bytes / 1048576)) MiB, $cores cores"

# run TOOL COMMAND…: wall time and peak RSS (of the largest process) of COMMAND.
run() {
  local tool=$1
  shift
  rm -rf "$work/out" && mkdir -p "$work/out"
  sync
  /usr/bin/time -f '%e %M' -o "$work/$tool.time" "$@" >"$work/$tool.log" 2>&1 ||
    { echo "$tool failed:"; tail -5 "$work/$tool.log"; exit 1; }
  read -r secs kib <"$work/$tool.time"
  printf '%-9s %6.1f s  %6.1f images/s  peak RSS %4d MiB\n' "$tool" "$secs" \
    "$(echo "$count / $secs" | bc -l)" $((kib / 1024))
}

run batch "$bin/origin/imgorigin" batch --from "$work/in" --to "$work/out" \
  --options "rs:fit:800:800/q:75/f:webp" --jobs "$cores" --progress json
if [ "$npm" = 1 ]; then
  [ "$build" = 0 ] || cmake --build build -j"$cores" --target imgorigin >/dev/null
  run batch-npm build/origin/imgorigin batch --from "$work/in" --to "$work/out" \
    --options "rs:fit:800:800/q:75/f:webp" --jobs "$cores" --progress json
fi
run vips bash -c 'cd "$1" && ls | xargs -P "$2" -I{} "$3" thumbnail {} "$4/{}.webp[Q=75,strip]" 800' \
  _ "$work/in" "$cores" "$vips" "$PWD/$work/out"
rm -rf "$work/out" "$work/in"
