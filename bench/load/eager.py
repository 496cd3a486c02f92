#!/usr/bin/env python3
"""Uploads fully processed per second: POSTs `count` photos to /v1/images over `conns`
connections, then waits until every record is ready (its eager presets rendered, stored and
recorded), and prints one TSV line: count, seconds from the first POST to the last ready record,
uploads/s, and the median seconds from an upload's 201 to its record being ready.

    eager.py PORT API_KEY COUNT CONNS PHOTO... > line.tsv

Bounded: at most COUNT uploads, and it gives up (exit 1) when nothing became ready for 60 s.
Loopback only."""
import json
import statistics
import sys
import threading
import time
import urllib.request

port, api_key, count, conns = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
photos = [open(p, "rb").read() for p in sys.argv[5:]]
base = f"http://127.0.0.1:{port}"
auth = {"Authorization": f"Bearer {api_key}"}
created = {}  # id -> time of its 201
lock = threading.Lock()
next_index = iter(range(count))


def upload():
    while True:
        with lock:
            i = next(next_index, None)
        if i is None:
            return
        req = urllib.request.Request(f"{base}/v1/images", data=photos[i % len(photos)],
                                     headers={**auth, "Content-Type": "image/jpeg"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            record = json.load(r)
        with lock:
            created[record["id"]] = time.monotonic()


start = time.monotonic()
threads = [threading.Thread(target=upload) for _ in range(conns)]
for t in threads:
    t.start()
ready = {}
last_progress = time.monotonic()
while len(ready) < count:
    time.sleep(0.2)
    after = ""
    while True:
        req = urllib.request.Request(f"{base}/v1/images?limit=1000&after={after}", headers=auth)
        with urllib.request.urlopen(req, timeout=30) as r:
            page = json.load(r)
        now = time.monotonic()
        for record in page["images"]:
            if record["status"] == "ready" and record["id"] not in ready and record["id"] in created:
                ready[record["id"]] = now
                last_progress = now
            elif record["status"] == "failed":
                sys.exit(f"eager.py: image {record['id']} failed: {record['last_error']}")
        if not page["next_after"]:
            break
        after = page["next_after"]
    if time.monotonic() - last_progress > 60:
        sys.exit(f"eager.py: only {len(ready)} of {count} ready after 60 s without progress")
for t in threads:
    t.join()
elapsed = max(ready.values()) - start
latency = statistics.median(ready[i] - created[i] for i in ready)
print(f"{count}\t{elapsed:.2f}\t{count / elapsed:.1f}\t{latency:.2f}")
