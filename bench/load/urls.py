#!/usr/bin/env python3
"""Writes the request-path lists that walk.lua feeds to wrk (standard library only).

  urls.py KIND LIST --first N --count M [--mix-every K] [--key HEX --salt HEX] [--options OPTS]

KIND: imgorigin (signed imgproxy-style paths), ipx, filter (nginx image_filter), static (nginx
serving the rendered bytes as files). Sources: "u/NNNNN.jpg" unique hard links (cold), and
"photos/photoNNN.jpg" (the 40 hot originals). --first/--count pick unique links; --mix-every K
makes every K-th path unique and the others cycle over the hot set (K=10: 90 % hits); --hot
lists the hot set only. --accept-mix adds a tab and an Accept header to every line (walk.lua
sends it): the browser mix in ACCEPT_MIX, interleaved in a fixed 20-request cycle.
"""
import argparse
import base64
import hashlib
import hmac

HOT = 40

# The browser Accept mix of the `accept` scenario: (share in 20 requests, browser, header).
# Headers as the browsers send them for <img> (Chromium 120+, Safari 17+, Firefox 120+).
ACCEPT_MIX = [
    (12, "chromium", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"),
    (4, "safari", "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
                  "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"),
    (3, "firefox", "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"),
    (1, "any", "*/*"),
]


def accept_cycle() -> list:
    """The 20 Accept headers of one cycle, spread out (smooth weighted round robin)."""
    total = sum(w for w, _, _ in ACCEPT_MIX)
    credit = [0] * len(ACCEPT_MIX)
    cycle = []
    for _ in range(total):
        for i, (w, _, _) in enumerate(ACCEPT_MIX):
            credit[i] += w
        best = max(range(len(ACCEPT_MIX)), key=lambda i: credit[i])
        credit[best] -= total
        cycle.append(ACCEPT_MIX[best][2])
    return cycle


def sign(key: bytes, salt: bytes, path: str) -> str:
    digest = hmac.new(key, salt + path.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def path_for(kind: str, rel: str, args) -> str:
    if kind == "imgorigin":
        tail = f"/{args.options}/plain/local:///{rel}"
        return "/" + sign(args.key, args.salt, tail) + tail
    if kind == "ipx":
        return f"/{args.ipx_modifiers}/{rel}"
    if kind == "filter":
        return f"/filter/{rel}"
    if kind == "static":
        return "/static/" + rel.rsplit("/", 1)[-1]
    raise SystemExit(f"unknown kind {kind}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind")
    p.add_argument("list")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--mix-every", type=int, default=0)
    p.add_argument("--hot", action="store_true")
    p.add_argument("--key", default="")
    p.add_argument("--salt", default="")
    p.add_argument("--options", default="w:300/q:80")
    p.add_argument("--ipx-modifiers", default="w_300,q_80")
    p.add_argument("--rel", default="", help="one explicit source path instead of a list")
    p.add_argument("--accept-mix", action="store_true", help="append the browser Accept mix")
    args = p.parse_args()
    args.key, args.salt = bytes.fromhex(args.key), bytes.fromhex(args.salt)

    rels = []
    if args.rel:
        rels = [args.rel]
    elif args.hot:
        rels = [f"photos/photo{i:03d}.jpg" for i in range(HOT)]
    elif args.mix_every:
        unique = args.first
        for i in range(args.count):
            if i % args.mix_every == args.mix_every - 1:
                rels.append(f"u/{unique:05d}.jpg")
                unique += 1
            else:
                rels.append(f"photos/photo{i % HOT:03d}.jpg")
    else:
        rels = [f"u/{args.first + i:05d}.jpg" for i in range(args.count)]
    cycle = accept_cycle() if args.accept_mix else None
    with open(args.list, "w") as out:
        for i, rel in enumerate(rels):
            accept = f"\t{cycle[i % len(cycle)]}" if cycle else ""
            out.write(path_for(args.kind, rel, args) + accept + "\n")


if __name__ == "__main__":
    main()
