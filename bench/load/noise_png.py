"""Writes a PNG of random RGB pixels, stored uncompressed: a file as large as its pixels.

    python3 noise_png.py WIDTH HEIGHT OUT
"""
import os
import struct
import sys
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main():
    w, h, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    raw = b"".join(b"\0" + os.urandom(3 * w) for _ in range(h))  # filter 0, then the row
    with open(out, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 0)))
        f.write(chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
