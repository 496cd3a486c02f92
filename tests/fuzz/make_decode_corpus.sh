#!/bin/sh
# Writes the seed corpus for fuzz_decode (corpus/decode/) with the vips CLI.
# Layout of every file: byte 0 = spec selector, byte 1 = output format selector (see
# fuzz_decode.cc), then the image. Each image is tiny; truncated variants and a decompression
# bomb header are included. Crash inputs (crash-*) are kept.
set -eu
ulimit -c 0  # a crashing vips must never leave a core dump in the tree
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus/decode"
mkdir -p "$out"
rm -f "$out"/seed-*
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A 24×16 RGB gradient with some structure, and an RGBA variant.
vips xyz "$tmp/xyz.v" 24 16
vips extract_band "$tmp/xyz.v" "$tmp/x.v" 0
vips extract_band "$tmp/xyz.v" "$tmp/y.v" 1
vips linear "$tmp/x.v" "$tmp/r.v" 10 0 --uchar
vips linear "$tmp/y.v" "$tmp/g.v" 15 0 --uchar
vips bandjoin "$tmp/r.v $tmp/g.v $tmp/r.v" "$tmp/rgb.v"
vips copy "$tmp/rgb.v" "$tmp/srgb.v" --interpretation srgb
vips bandjoin "$tmp/r.v $tmp/g.v $tmp/r.v $tmp/g.v" "$tmp/rgba0.v"
vips copy "$tmp/rgba0.v" "$tmp/rgba.v" --interpretation srgb
vips colourspace "$tmp/srgb.v" "$tmp/grey.v" b-w

# seed <name> <spec byte> <format byte> <file>
seed() {
  { printf "\\$(printf %o "$2")\\$(printf %o "$3")"; cat "$4"; } > "$out/seed-$1"
}

vips copy "$tmp/srgb.v" "$tmp/a.jpg[Q=60,strip]"
vips copy "$tmp/srgb.v" "$tmp/p.jpg[Q=60,interlace,strip]"
vips copy "$tmp/rgba.v" "$tmp/a.png"
vips copy "$tmp/grey.v" "$tmp/g.png[bitdepth=1]"
vips copy "$tmp/srgb.v" "$tmp/i.png[interlace]"
vips copy "$tmp/srgb.v" "$tmp/a.webp[Q=50]"
vips copy "$tmp/rgba.v" "$tmp/l.webp[lossless]"
vips copy "$tmp/rgba.v" "$tmp/a.gif"
vips copy "$tmp/srgb.v" "$tmp/a.avif[Q=30,effort=0]"
vips copy "$tmp/srgb.v" "$tmp/a.tif[compression=deflate]"
vips copy "$tmp/rgba.v" "$tmp/t.tif[tile,tile-width=16,tile-height=16]"
vips copy "$tmp/srgb.v" "$tmp/a.heic[Q=30,effort=0]" 2>/dev/null || true

# Animated GIF and WebP: 3 pages of 24×16 stacked vertically; the CLI cannot set page-height, so
# it is written into the .v file's XML extension.
vips flip "$tmp/rgba.v" "$tmp/rgbaf.v" horizontal
vips join "$tmp/rgba.v" "$tmp/rgbaf.v" "$tmp/two.v" vertical
vips join "$tmp/two.v" "$tmp/rgba.v" "$tmp/anim.v" vertical
vipsheader -f getext "$tmp/anim.v" |
  sed 's|<meta>|<meta><field type="gint" name="page-height">16</field><field type="gint" name="n-pages">3</field>|' \
  > "$tmp/ext.xml"
vipsedit --setext "$tmp/anim.v" < "$tmp/ext.xml"
vips copy "$tmp/anim.v" "$tmp/anim.gif"
vips copy "$tmp/anim.v" "$tmp/anim.webp[Q=50]"

# A JPEG with EXIF orientation 6 (rotate 90°), and JPEG XL when this libvips can write it.
vips copy "$tmp/srgb.v" "$tmp/o.v"
vipsheader -f getext "$tmp/o.v" |
  sed 's|<meta>|<meta><field type="gint" name="orientation">6</field>|' > "$tmp/ext.xml"
vipsedit --setext "$tmp/o.v" < "$tmp/ext.xml"
vips copy "$tmp/o.v" "$tmp/o.jpg[Q=60]"
vips copy "$tmp/srgb.v" "$tmp/a.jxl[Q=50,effort=1]" 2>/dev/null || true

cat > "$tmp/a.svg" <<'EOF'
<svg xmlns="http://www.w3.org/2000/svg" width="24" height="16" viewBox="0 0 24 16"><rect width="24" height="16" fill="#08f"/><circle cx="12" cy="8" r="6" fill="red" opacity=".5"/><text x="2" y="12" font-size="8">Hi</text></svg>
EOF
cat > "$tmp/ext.svg" <<'EOF'
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"><image xlink:href="file:///etc/passwd" width="10" height="10"/></svg>
EOF
cat > "$tmp/entity.svg" <<'EOF'
<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&b;</text></svg>
EOF
cat > "$tmp/huge.svg" <<'EOF'
<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="10" height="10"/></svg>
EOF

# PNG decompression bomb: a valid 30000×30000 header (900 Mpx) with a tiny IDAT.
python3 - "$tmp/bomb.png" <<'EOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n"
png += chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"\x00" * 30001 * 4, 9))
png += chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF
# A JPEG claiming 60000×60000 (SOF0 patched), and a GIF claiming 65535×65535 with one tiny frame.
python3 - "$tmp/a.jpg" "$tmp/bomb.jpg" "$tmp/a.gif" "$tmp/bomb.gif" <<'EOF'
import sys
jpg = bytearray(open(sys.argv[1], "rb").read())
at = jpg.find(b"\xff\xc0")
if at < 0: at = jpg.find(b"\xff\xc2")
jpg[at + 5:at + 9] = (60000).to_bytes(2, "big") * 2
open(sys.argv[2], "wb").write(jpg)
gif = bytearray(open(sys.argv[3], "rb").read())
gif[6:10] = b"\xff\xff\xff\xff"
open(sys.argv[4], "wb").write(gif)
EOF

n=0
for f in a.jpg p.jpg a.png g.png i.png a.webp l.webp a.gif anim.gif anim.webp a.avif a.tif t.tif a.heic a.svg o.jpg a.jxl; do
  [ -s "$tmp/$f" ] || continue
  name=$(echo "$f" | tr . -)
  seed "$name" $((n % 10)) $(( (n * 3) % 12 )) "$tmp/$f"
  n=$((n + 1))
done
# A 160×120 photo-like JPEG and a palette PNG, so that the resizing specs have work to do.
vips gaussnoise "$tmp/noise.v" 160 120 --sigma 40
vips resize "$tmp/srgb.v" "$tmp/big0.v" 6.67 --vscale 7.5
vips add "$tmp/big0.v" "$tmp/noise.v" "$tmp/big1.v"
vips cast "$tmp/big1.v" "$tmp/big2.v" uchar
vips copy "$tmp/big2.v" "$tmp/big.v" --interpretation srgb
vips copy "$tmp/big.v" "$tmp/big.jpg[Q=40,strip]"
vips copy "$tmp/big0.v" "$tmp/big.png[palette,colours=16]"
for s in 1 2 3 5 6 7; do seed "big-spec$s-jpg" "$s" 0 "$tmp/big.jpg"; done
seed big-spec0-png 0 0 "$tmp/big.png"
seed big-spec4-png 4 3 "$tmp/big.png"

# Every spec on one PNG and one JPEG, every output format on one PNG.
for s in 0 1 2 3 4 5 6 7 8 9; do seed "spec$s-png" "$s" 0 "$tmp/a.png"; done
for s in 2 4 6; do seed "spec$s-jpg" "$s" 0 "$tmp/a.jpg"; done
for f in 1 2 3 4 5 6 7 8 9 10 11; do seed "format$f-png" 1 "$f" "$tmp/a.png"; done
seed auto-anim-gif 1 131 "$tmp/anim.gif"
seed anim-webp-to-gif 2 4 "$tmp/anim.webp"
seed svg-external 1 0 "$tmp/ext.svg"
seed svg-entity 1 0 "$tmp/entity.svg"
seed svg-huge 1 0 "$tmp/huge.svg"
seed bomb-png 1 0 "$tmp/bomb.png"
seed bomb-jpg 1 0 "$tmp/bomb.jpg"
seed bomb-gif 0 0 "$tmp/bomb.gif"
# Truncated variants.
for f in a.jpg a.png a.webp a.gif a.avif a.tif; do
  [ -s "$tmp/$f" ] || continue
  size=$(wc -c < "$tmp/$f")
  head -c $((size / 2)) "$tmp/$f" > "$tmp/half"
  seed "trunc-half-$(echo "$f" | tr . -)" 1 0 "$tmp/half"
  head -c 40 "$tmp/$f" > "$tmp/head"
  seed "trunc-head-$(echo "$f" | tr . -)" 0 0 "$tmp/head"
done
printf 'not an image' > "$tmp/text"
seed text 0 0 "$tmp/text"
: > "$tmp/empty"
seed empty 0 0 "$tmp/empty"
ls "$out" | wc -l
du -cb "$out"/seed-* | tail -1
