#!/usr/bin/env python3
"""Turns bench/load/run.sh's raw results into bench/results/report.md and chart.png.

Standard library only; the chart is drawn by gnuplot (Debian's gnuplot-nox). With several rounds,
each (scenario, server) figure is the median of its runs.
"""
import argparse
import csv
import datetime
import os
import platform
import statistics
import subprocess

SCENARIOS = {
    "cold": "Cold transforms, unique URLs (2048-px JPEG → 300 px JPEG q80)",
    "hot-memory": "Hot hits: imgorigin memory tier vs nginx serving the same bytes as a file",
    "hot-redis": "Hits from the Redis tier (memory tier off)",
    "hot-memcached": "Hits from the memcached tier (memory tier off)",
    "hot-disk": "Hits from the disk tier (memory tier off)",
    "herd-64": "One new URL, 64 connections at once",
    "mixed-90": "Mixed load: 90 % hits on 40 hot variants, 10 % unique cold URLs",
    "drift-20k": "20 000 mixed requests (RSS drift run, memory tier 8 MiB)",
    "upload-1MB": "Uploads (POST /v1/images): a 1 MB photo JPEG, checked, hashed, stored, recorded",
    "upload-48MB": "Uploads (POST /v1/images): a 48 MB PNG (random pixels, stored uncompressed)",
}


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def med(values):
    return statistics.median(values) if values else 0.0


def aggregate(rows):
    groups = {}
    for r in rows:
        if r["scenario"] == "drift-warmup":
            continue
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    out = []
    for (scenario, server), runs in groups.items():
        num = lambda k: med([float(r[k] or 0) for r in runs])
        notes = sorted({r["note"] for r in runs if r["note"]})
        out.append({
            "scenario": scenario, "server": server, "runs": len(runs),
            "connections": runs[0]["connections"], "requests": int(sum(float(r["requests"] or 0) for r in runs)),
            "rps": num("req_per_s"), "p50": num("p50_ms"), "p99": num("p99_ms"),
            "cpu": num("cpu_pct"), "rss": num("peak_rss_mb"), "wrk": num("wrk_cpu_pct"),
            "other": num("other_cpu_pct"),
            "errors": int(sum(float(r["errors"] or 0) for r in runs)), "note": "; ".join(notes),
        })
    order = list(SCENARIOS)
    out.sort(key=lambda r: (order.index(r["scenario"]) if r["scenario"] in order else 99))
    return out


def read_floor(work):
    floors = {}
    for build in ("system", "npm"):
        path = os.path.join(work, f"floor-{build}.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            lines = [l for l in f if l.startswith("name,") or l.startswith('"')]
        for r in csv.DictReader(lines):
            name = r["name"].split("/")[1] if "/" in r["name"] else r["name"]
            if r.get("items_per_second"):
                floors[(build, name)] = float(r["items_per_second"])
    return floors


def read_memory(path):
    big, drift, refused, eager = [], [], [], []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 4 and parts[1] == "drift":
                    drift.append((parts[0], int(parts[2]), int(parts[3])))
                elif len(parts) == 6 and parts[1] == "eager":
                    eager.append((parts[0], int(parts[2]), float(parts[3]), float(parts[4]),
                                  float(parts[5])))
                elif len(parts) == 6 and parts[1] == "refuse":
                    refused.append((parts[0], parts[2], parts[3], int(parts[4]), int(parts[5])))
                elif len(parts) == 7:
                    big.append(parts)
    return big, drift, refused, eager


def find(rows, scenario, server):
    for r in rows:
        if r["scenario"] == scenario and r["server"] == server:
            return r
    return None


def verdict(ok):
    return "**met**" if ok else "**missed**"


def chart(rows, floors, out_dir):
    data = os.path.join(out_dir, "chart.dat")
    cold = [(r["server"], r["rps"]) for r in rows if r["scenario"] == "cold"]
    cold += [(f"{n} ({b}, in-process)", v) for (b, n), v in sorted(floors.items())
             if n in ("floor", "floor_pipeline")]
    hits = [(f'{r["scenario"].replace("hot-", "")}: {r["server"]}', r["rps"]) for r in rows
            if r["scenario"] in ("hot-memory", "hot-redis", "hot-memcached", "hot-disk", "mixed-90") and r["rps"] > 0]
    panels = [(t, items, c) for t, items, c in (
        ("Cold transforms, 300 px JPEG (images/s)", cold, "#3a7bd5"),
        ("Hits (req/s)", hits, "#e07b39")) if items]
    if not panels:
        return False
    with open(data, "w") as f:
        for _, items, _ in panels:
            for label, v in items:
                f.write(f'"{label}" {v:.1f}\n')
            f.write("\n\n")
    plots = "\n".join(
        f'set title "{t}"\n'
        f'plot "{data}" index {i} using 0:2:xtic(1) with boxes lc rgb "{c}" notitle, \\\n'
        f'     "" index {i} using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.7 notitle'
        for i, (t, _, c) in enumerate(panels))
    script = f"""
set terminal pngcairo size {650 * len(panels)},560 font "sans,10"
set output "{os.path.join(out_dir, 'chart.png')}"
set multiplot layout 1,{len(panels)} title "imgorigin vs peers, loopback, same machine and run (higher is better)"
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
set xtics rotate by -30 left noenhanced
{plots}
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        os.remove(data)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: no chart ({e})")
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--memory", required=True)
    p.add_argument("--micro-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--duration", required=True)
    p.add_argument("--rounds", required=True)
    p.add_argument("--loadavg", default="")
    p.add_argument("--builds", default="system npm")
    a = p.parse_args()

    rows = aggregate(read_rows(a.results))
    floors = read_floor(a.micro_dir)
    big, drift, refused, eager = read_memory(a.memory)
    builds = a.builds.split()
    has_chart = chart(rows, floors, a.out)

    md = []
    w = md.append
    w("# imgorigin load benchmark\n")
    w(f"Generated {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by `bench/load/run.sh` on "
      f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), load average at the end "
      f"{a.loadavg}. wrk on the same machine over loopback; {a.duration} s per run, {a.rounds} "
      "round(s) in alternation (medians). CPU is the server's own CPU time over the run (100 % = one "
      "core); peak RSS is the server's VmHWM during the run (all its processes). *Others' CPU* is "
      "what the rest of the machine used meanwhile (out of 200 %): the noise in that row. Corpus: 40 "
      "synthetic photo-like 2048×1365 JPEGs of ~500 KB (bench/micro/corpus.h).\n")
    w("| Scenario | Server | Conns | req/s | p50 ms | p99 ms | CPU % | Peak RSS MB | Errors | wrk CPU % | Others' CPU % | Notes |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    last = None
    for r in rows:
        name = r["scenario"] if r["scenario"] != last else ""
        last = r["scenario"]
        if r["rps"] == 0 and r["requests"] == 0:
            w(f"| {name} | {r['server']} | | | | | | | | | | {r['note']} |")
            continue
        rps = (f"{r['rps']:,.0f}" if r["rps"] >= 100 else f"{r['rps']:.1f}") if r["rps"] > 0 else "—"
        w(f"| {name} | {r['server']} | {r['connections']} | {rps} | {r['p50']:.2f} | "
          f"{r['p99']:.2f} | {r['cpu']:.0f} | {r['rss']:.0f} | {r['errors']} | {r['wrk']:.0f} | "
          f"{r['other']:.0f} | {r['note']} |")
    w("")
    for key, text in SCENARIOS.items():
        if any(r["scenario"] == key for r in rows):
            w(f"- `{key}`: {text}")
    w("")
    if floors:
        w("In-process floor (bench/micro/floor_bench.cc: thumbnail from a buffer + JPEG save, libvips "
          "concurrency 1 per thread, no HTTP), images/s:\n")
        w("| libvips | floor: thumbnail, 2 threads | same, imgorigin's encoder settings | 1 thread | "
          "floor_pipeline: imgorigin's steps, 2 threads |")
        w("|---|---:|---:|---:|---:|")
        for b in builds:
            w(f"| {b} | {floors.get((b, 'floor'), 0):.1f} | {floors.get((b, 'floor_same'), 0):.1f} | "
              f"{floors.get((b, 'floor_1thread'), 0):.1f} | {floors.get((b, 'floor_pipeline'), 0):.1f} |")
        w("\n`vips_thumbnail` decodes a 2048-px JPEG at 1/2 scale where imgorigin (like sharp and "
          "imgproxy) shrinks on load by 1/4 before resizing to 300 px, so `floor_pipeline` — the same "
          "libvips calls as imgorigin's pipeline, without HTTP, URL, cache or checks — is the "
          "like-for-like floor; both are judged below.")
        w("")
    if big or drift:
        w("Memory (fresh server per source; peak = VmHWM after one `w:300` request; limits raised to "
          "120 MP / 512 MiB):\n")
        w("| libvips | Source | Size | File MB | HTTP | Idle RSS MB | Peak RSS MB |")
        w("|---|---|---|---:|---:|---:|---:|")
        for b, name, dims, size, code, idle, peak in big:
            w(f"| {b} | {name} | {dims} | {int(size) / 1e6:.1f} | {code} | {int(idle) / 1024:.0f} | "
              f"{int(peak) / 1024:.0f} |")
        for b, r0, r1 in drift:
            w(f"\nRSS drift ({b}): {r0 / 1024:.0f} MB after a 4 000-request warm-up → {r1 / 1024:.0f} MB "
              f"after 20 000 mixed requests ({100 * (r1 - r0) / max(1, r0):+.1f} %).")
        w("")
    if refused:
        w("Uploads over `ingest.max_upload_bytes` (a 200 MB body; peak = VmHWM while it was sent):\n")
        w("| libvips | Body | HTTP | RSS before MB | Peak RSS MB |")
        w("|---|---|---:|---:|---:|")
        for b, how, code, idle, peak in refused:
            w(f"| {b} | {how} | {code} | {idle / 1024:.0f} | {peak / 1024:.0f} |")
        w("")

    if eager:
        w("Uploads fully processed (2 MP photo, three eager presets rendered from one decode, "
          "cached, written as files, record ready), 4 connections:\n")
        w("| libvips | Uploads | Seconds | Uploads/s | Median s to ready |")
        w("|---|---:|---:|---:|---:|")
        for b, count, secs, rate, latency in eager:
            w(f"| {b} | {count} | {secs:.1f} | {rate:.1f} | {latency:.2f} |")
        w("")

    w("## Targets\n")
    w("| Target | Figure | Verdict |")
    w("|---|---|---|")
    ipx = find(rows, "cold", "ipx")
    for b in builds:
        me = find(rows, "cold", f"imgorigin-{b}")
        if me and ipx and ipx["rps"] > 0:
            ratio = me["rps"] / ipx["rps"]
            w(f"| cold ≥ 1.2× ipx ({b}) | {me['rps']:.0f} vs {ipx['rps']:.0f} req/s = {ratio:.2f}× | "
              f"{verdict(ratio >= 1.2)} |")
        for name, label in (("floor", "thumbnail floor"), ("floor_pipeline", "floor_pipeline")):
            fl = floors.get((b, name))
            if me and fl:
                ratio = me["rps"] / fl
                w(f"| cold ≥ 0.95× in-process {label} ({b}) | {me['rps']:.0f} vs {fl:.0f} images/s = "
                  f"{ratio:.2f}× | {verdict(ratio >= 0.95)} |")
    static = find(rows, "hot-memory", "nginx-static")
    for b in builds:
        me = find(rows, "hot-memory", f"imgorigin-{b}")
        if me and static and static["rps"] > 0:
            ratio = me["rps"] / static["rps"]
            w(f"| memory hits ≥ 0.9× nginx static ({b}) | {me['rps']:,.0f} vs {static['rps']:,.0f} "
              f"req/s = {ratio:.2f}× | {verdict(ratio >= 0.9)} |")
        herd = find(rows, "herd-64", f"imgorigin-{b}")
        if herd:
            renders = next((p.split(": ")[1] for p in herd["note"].split("; ") if p.startswith("renders: ")), "?")
            w(f"| 64 clients, one new URL ⇒ 1 transform ({b}) | renders: {renders} | "
              f"{verdict(renders == '1')} |")
    for b, name, dims, size, code, idle, peak in big:
        if name.startswith("mp24"):
            w(f"| 24 MP → thumbnail peak RSS < 150 MB ({b}) | {int(peak) / 1024:.0f} MB | "
              f"{verdict(int(peak) / 1024 < 150 and code == '200')} |")
    for b, r0, r1 in drift:
        d = 100 * (r1 - r0) / max(1, r0)
        w(f"| RSS drift over 20 000 requests < 10 % ({b}) | {d:+.1f} % | {verdict(d < 10)} |")
    w("")
    if has_chart:
        w("![req/s per scenario](chart.png)\n")

    micro = []
    for m in ("grammar", "signing", "cache", "pipeline"):
        path = os.path.join(a.micro_dir, f"micro-{m}.txt")
        if os.path.exists(path):
            with open(path) as f:
                lines = [l.rstrip() for l in f if l.strip() and not l.startswith(("*", "Run", "CPU", "  L", "Load", "This"))]
            micro.append(f"### {m}\n\n```\n" + "\n".join(lines) + "\n```\n")
    if micro:
        w("## Micro-benchmarks (short runs, first build)\n")
        md.extend(micro)

    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
