#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_entry_codec (corpus/entry_codec/): entries in the layout of
cache/entry_codec.cc with a zero checksum (the target repairs it, see variant 2), broken ones,
and field layouts for the encode → decode round trip (variant 3)."""
import pathlib, struct

out = pathlib.Path(__file__).parent / "corpus" / "entry_codec"
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("seed-*"):
    old.unlink()

def entry(key=b"rs:fit:100:100/plain/local:///a.jpg", ctype=b"image/webp", etag=b'"abc123"',
          body=b"RIFF\x00\x00\x00\x00WEBP", created=1700000000, mtime=1600000000, w=100, h=80,
          body_len=None, version=1, magic=b"IOCE", flags=b"\0\0\0"):
    head = magic + bytes([version]) + flags + b"\0" * 8
    head += struct.pack("<qqIIQHHHxx", created, mtime, w, h,
                        len(body) if body_len is None else body_len, len(key), len(ctype), len(etag))
    assert len(head) == 56
    return head + key + ctype + etag + body

def fields(created, mtime, w, h, key, ctype, etag, body, has_body=True):
    return (struct.pack("<qqHH", created, mtime, w, h)
            + bytes([len(key), len(ctype), len(etag), 1 if has_body else 0]) + key + ctype + etag + body)

seeds = {
    "entry-webp": entry(),
    "entry-empty-body": entry(body=b""),
    "entry-empty-all": entry(key=b"", ctype=b"", etag=b"", body=b""),
    "entry-big-key": entry(key=b"k" * 2000),
    "entry-body-len-short": entry(body_len=3),
    "entry-body-len-huge": entry(body_len=2**64 - 1),
    "entry-version2": entry(version=2),
    "entry-flags": entry(flags=b"\0\1\0"),
    "entry-bad-magic": entry(magic=b"IOCF"),
    "entry-negative-times": entry(created=-1, mtime=-2**63, w=2**32 - 1, h=2**31),
    "header-only": entry()[:56],
    "truncated": entry()[:60],
    "fields-basic": fields(1700000000, 0, 101, 10, b"key", b"image/png", b'"e"', b"\x89PNG\r\n\x1a\n"),
    "fields-no-body": fields(0, 0, 0, 0, b"", b"", b"", b"", has_body=False),
    "fields-negative": fields(-1, -1, 65535, 65535, b"k" * 63, b"t" * 31, b"e" * 63, b"b" * 100),
    "short": b"IOCE\x01",
    "empty": b"",
}
for name, data in seeds.items():
    (out / ("seed-" + name)).write_bytes(data)
print(f"{len(seeds)} seeds in {out}")
