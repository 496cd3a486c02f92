#!/usr/bin/env bash
# A 4-gigapixel image through RenderToFile() and through the vips command line, side by side:
# wall time and peak RSS (/usr/bin/time -f '%e %M') of the same operations on the same libvips
# (Debian's 8.14: /usr/bin/vips, and imgorigin built with IMGORIGIN_LIBVIPS=system).
#
#   bench/batch/huge.sh [--side N] [--imgorigin PATH] [--no-build]
#
# --side N         source side in pixels, a multiple of 16 (default 65536: 4.3 gigapixels)
# --imgorigin PATH also runs `PATH batch` (the command under development) on the thumbnail case
# --no-build       use build-system/bench/bench_render_file as it is
#
# The source is a tiled (256²), JPEG-compressed, non-pyramidal BigTIFF of photo-like content (a
# 4096² synthetic photo repeated), made once and kept in bench/work/huge/ (gitignored): every
# operation has to decode all of it. Cases, each run by both tools:
#   thumb   fit 4096 px, JPEG Q80          (vips thumbnail)
#   tiff    1/4 scale, tiled pyramidal TIFF with JPEG tiles (vips resize … out.tif[pyramid])
#   dz      1/4 scale, DeepZoom JPEG tiles (vips resize … out.dz)
# libvips concurrency is the core count for both. Run it on a quiet machine; it takes a few
# minutes per case on 2 cores (and ~3 min to make the source the first time).
set -euo pipefail
cd "$(dirname "$0")/../.."

side=65536
imgorigin=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --side) side=$2; shift 2 ;;
    --imgorigin) imgorigin=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "usage: $0 [--side N] [--imgorigin PATH] [--no-build]" >&2; exit 2 ;;
  esac
done
[ $((side % 16)) -eq 0 ] || { echo "huge.sh: --side must be a multiple of 16" >&2; exit 2; }

vips=/usr/bin/vips
driver=build-system/bench/bench_render_file
work=bench/work/huge
mkdir -p "$work"
[ -x "$vips" ] || { echo "huge.sh: $vips (Debian's libvips-tools) is missing" >&2; exit 1; }

if [ "$build" = 1 ]; then
  # Same libvips as /usr/bin/vips.
  cmake -S . -B build-system -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGORIGIN_LIBVIPS=system \
    -DIMGORIGIN_BUILD_BENCH=ON >/dev/null
  cmake --build build-system -j"$(nproc)" --target bench_render_file imgorigin_make_corpus >/dev/null
fi

src=$work/huge-$side.tif
if [ ! -s "$src" ]; then
  # 16 × 16 copies of a photo: no intermediate image (a 65536² one would be 12 GiB).
  tile=$((side / 16))
  build-system/bench/imgorigin_make_corpus "$work" 1 "$tile" "$tile" tile >/dev/null
  echo "making $src: ${side}² from 16 × 16 copies of $work/tile000.jpg …"
  start=$(date +%s.%N)
  "$vips" replicate "$work/tile000.jpg" \
    "$work/making.tif[tile,tile-width=256,tile-height=256,compression=jpeg,Q=85,bigtiff]" 16 16
  mv "$work/making.tif" "$src"
  echo "made in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
echo "source: $(vipsheader "$src"), $(du -h "$src" | cut -f1) on disk"

out=$work/out
results=$work/results.tsv
printf 'case\ttool\tseconds\tpeak_rss_mib\n' >"$results"

# run CASE TOOL COMMAND…: times COMMAND, appends a row.
run() {
  local name=$1 tool=$2
  shift 2
  rm -rf "$out"
  mkdir -p "$out"
  sync
  /usr/bin/time -f '%e %M' -o "$work/$name-$tool.time" "$@" >"$work/$name-$tool.log" 2>&1 ||
    { echo "$name/$tool failed:"; cat "$work/$name-$tool.log"; exit 1; }
  read -r secs kib <"$work/$name-$tool.time"
  printf '%s\t%s\t%s\t%d\n' "$name" "$tool" "$secs" $((kib / 1024)) | tee -a "$results"
}

quarter=$((side / 4))
run thumb vips "$vips" thumbnail "$src" "$out/thumb.jpg[Q=80,optimize_coding,strip]" 4096 --size down
run thumb imgorigin "$driver" "$src" "$out/thumb.jpg" "rs:fit:4096:4096/f:jpg"
# ── hook: `imgorigin batch` on the same thumbnail, once the command exists ──
if [ -n "$imgorigin" ]; then
  rm -rf "$work/batch-in" && mkdir -p "$work/batch-in" && ln -f "$src" "$work/batch-in/huge.tif"
  run thumb batch "$imgorigin" batch --from "$work/batch-in" --to "$out" \
    --options "rs:fit:4096/f:jpg" --jobs 1
fi
run tiff vips "$vips" resize "$src" \
  "$out/quarter.tif[tile,tile-width=256,tile-height=256,pyramid,compression=jpeg,Q=80,bigtiff,strip]" 0.25
run tiff imgorigin "$driver" "$src" "$out/quarter.tif" "rs:fit:$quarter:$quarter" --pyramid tiff
run dz vips "$vips" resize "$src" "$out/quarter.dz[suffix=.jpg[Q=80,optimize_coding],strip]" 0.25
run dz imgorigin "$driver" "$src" "$out/quarter.dzi" "rs:fit:$quarter:$quarter/f:jpg" --pyramid dz
rm -rf "$out"

echo
echo "side by side (ratio = imgorigin / vips):"
awk -F'\t' 'NR > 1 { t[$1 FS $2] = $3; m[$1 FS $2] = $4; if (!seen[$1]++) order[n++] = $1 }
  END { for (i = 0; i < n; i++) { c = order[i]; v = c FS "vips"; o = c FS "imgorigin";
    printf "%-6s vips %7.1f s %6d MiB | imgorigin %7.1f s %6d MiB | time ×%.2f\n",
      c, t[v], m[v], t[o], m[o], t[o] / t[v] } }' "$results"
