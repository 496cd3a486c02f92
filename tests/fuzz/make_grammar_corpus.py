#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_grammar (corpus/grammar/). Re-run after adding options;
crash inputs found by fuzzing live next to these as crash-* files and are never regenerated."""
import base64, os, pathlib

out = pathlib.Path(__file__).parent / "corpus" / "grammar"
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("seed-*"):
    old.unlink()

def b64(url):
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

src = "/plain/local:///a.jpg"
long_b64 = b64("http://example.com/images/" + "x" * 300 + ".jpg")
seeds = {
    # imgproxy's published examples and client-library output
    "imgproxy-example": "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png",
    "imgproxy-plain": "/rs:fill:300:400:0/g:sm/plain/http://example.com/images/curiosity.jpg@png",
    "long-names": "/resize:fill:300:400:1:1/gravity:noea:10:20/quality:80/format:webp" + src,
    "base64-split": "/w:100/" + "/".join(long_b64[i:i + 16] for i in range(0, len(long_b64), 16)) + ".webp",
    "base64-plain-source": "/" + b64("local:///a.jpg"),
    "only-source": src,
    "empty": "",
    "slash": "/",
    "no-source": "/rs:fit:10:10",
    # every option, short and long names, with typical and boundary values
    "resize": "/rs:fit:100:200:1:1/resize:force:1:1:0:0/rs:auto::50" + src,
    "size": "/s:100:200:1:1:so:1:2/size:::0" + src,
    "rt-w-h": "/rt:fill-down/w:8192/h:0/width:1/height:2" + src,
    "enlarge-extend": "/el:1/ex:1:so:5:-5/extend:t:fp:0.5:0.5/exar:1:no/extend_aspect_ratio:0" + src,
    "gravity": "/g:ce:0:12/g:nowe/g:fp:0:1/gravity:sm/g:soea:0.5:-0.5" + src,
    "crop": "/c:0.5:100:fp:0.25:0.75/crop:100:100:no/c:0:0" + src,
    "rotate-flip": "/rot:90/rot:-270/rotate:360/fl:1:0/flip:1:1/ar:0/auto_rotate:true" + src,
    "blur-sharpen-pix": "/bl:1.5/sh:0.3/pix:4/blur:0/sharpen:0.00001/pixelate:0" + src,
    "background": "/bg:255:0:10/bg:FF000a/background:f0a/bg:" + src,
    "quality": "/q:1/q:100/quality:0/fq:webp:90:jpg:10/format_quality:avif:0/mb:1000" + src,
    "metadata": "/sm:0/kcr:1/scp:0/strip_metadata:1/keep_copyright:false/eth:1" + src,
    "format": "/f:webp/format:avif/f:jpeg/f:tif/f:jxl/f:png/f:gif/f:heic/f:bmp/f:ico" + src,
    "format-ext": "/w:10/plain/local:///a.jpg@WebP",
    "preset": "/pr:small/preset:webp/pr:small:webp" + src,
    "preset-only": "/pr:thumb/plain/s3://bucket/key.png",
    "preset-unknown": "/pr:nope" + src,
    "meta-options": "/exp:4102444800/fn:cat%20picture/fn:Y2F0:1/att:1/cb:v2/cachebuster:" + src,
    "min-zoom-dpr": "/mw:100/mh:50/z:1.5/zoom:2:0.5/dpr:1.25/min-width:0" + src,
    "trim-padding": "/t:20:ff0000:1:0/trim:::1/pd:1:2:3:4/padding:5/pd::7" + src,
    "watermark": "/wm:0.5:soea:10:10:0.2/watermark:1:re/wm:0" + src,
    "skip-raw": "/skp:jpg:png/skip_processing:svg/raw:1" + src,
    "limits": "/msr:10/msfs:1000/maf:5/mafr:1/mrd:100" + src,
    "pro-options": "/a:10:1.1:0.9/br:10/co:1/sa:1/mc:1/dt:1/ra:lanczos3/bga:0.5/aq:dssim/p:1/pg:1/pgs:2/da:1" + src,
    # edge cases
    "empty-args": "/rs:::/w:/h:/g:/c:/q:/bg:/pd:::/fq:" + src,
    "empty-option": "/:/::/rs/w:10" + src,
    "huge-numbers": "/w:99999999999999999999999/h:2147483648/q:-2147483649/dpr:1e308/z:1e-320" + src,
    "float-forms": "/dpr:0x10/dpr:+1/dpr:.5/dpr:5./dpr:1e2/bl:nan/bl:inf/bl:-0" + src,
    "negative": "/w:-1/rot:-90/g:no:-0.5:-1e9/pd:-1" + src,
    "bad-base64": "/w:10/aHR0cDovL2V4YW1w=/bGUu$$$.png",
    "bad-base64-len": "/w:10/a.png",
    "two-ext": "/w:10/aHR0cDovL2V4YW1w.png.jpg",
    "plain-at": "/plain/local:///a%40b.jpg@png@jpg",
    "percent": "/plain/local:///%2e%2e/%2F/%00/%zz/%/%4",
    "percent-utf8": "/fn:%E2%9C%93%FF%C3/plain/http://h/%E2%9C%93.jpg",
    "query-like": "/w:10/plain/http://h/a.jpg?x=1&y=2#frag@png",
    "double-slash": "//w:10//plain//local:///a.jpg",
    "unicode": "/w:１０/plain/local:///ü.jpg",
    "nul": "/w:10\x00/plain/local:///a\x00.jpg",
    "long-path": "/" + "/".join(["w:1"] * 300) + src,
    "long-arg": "/cb:" + "a" * 4000 + src,
    "many-args": "/rs:" + ":".join(["1"] * 200) + src,
}
for name, text in seeds.items():
    (out / ("seed-" + name)).write_bytes(text.encode())
print(f"{len(seeds)} seeds in {out}")
