#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_signature (corpus/signature/).
Layout: byte 0 = signature size - 1 (mod 32), byte 1 = split offset (255: at the first "/"),
then "<signature><path>"."""
import base64, hashlib, hmac, pathlib

out = pathlib.Path(__file__).parent / "corpus" / "signature"
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("seed-*"):
    old.unlink()

KEY = bytes.fromhex("943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881")
SALT = bytes.fromhex("520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5")
NEW_KEY, NEW_SALT = b"\x00\x01\x02secret", b""

def sign(path, size=32, key=KEY, salt=SALT):
    d = hmac.new(key, salt + path.encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(d).decode().rstrip("=")

path = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
def seed(size, sig, p, split=255):
    return bytes([size - 1, split]) + (sig + p).encode("latin-1")

seeds = {
    "valid-old-key": seed(32, sign(path), path),
    "valid-new-key": seed(32, sign(path, key=NEW_KEY, salt=NEW_SALT), path),
    "valid-size8": seed(8, sign(path, 8), path),
    "valid-size1": seed(1, sign(path, 1), path),
    "padded": seed(32, sign(path) + "=", path),
    "wrong-size": seed(16, sign(path), path),
    "last-char-varied": seed(32, sign(path)[:-1] + "B", path),
    "placeholder": seed(32, "_", path),
    "insecure": seed(32, "insecure", path),
    "empty-sig": seed(32, "", path),
    "empty-all": bytes([31, 0]),
    "bad-chars": seed(32, "+/+/abc=", path),
    "split-offset": seed(32, sign("/x"), "/x", split=43),
    "no-slash": seed(32, "AAAA", "", split=255),
    "hex-key": bytes([0, 0]) + b"943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881",
    "hex-odd": bytes([0, 0]) + b"abc",
    "hex-bad": bytes([0, 0]) + b"0g",
    "hex-upper": bytes([0, 0]) + b"DEADbeef",
    "base64-padded": bytes([0, 0]) + b"QQ==",
    "base64-pad-wrong": bytes([0, 0]) + b"QQ=",
    "base64-trailing-bits": bytes([0, 0]) + b"QR",
    "long-path": seed(32, sign("/" + "w:1/" * 500), "/" + "w:1/" * 500),
}
for name, data in seeds.items():
    (out / ("seed-" + name)).write_bytes(data)
print(f"{len(seeds)} seeds in {out}")
