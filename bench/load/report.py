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
    "format-jpeg": "Per-format cold renders, unique URLs, result cache off: 300 px JPEG q80",
    "format-webp": "Per-format cold renders: 300 px WebP q75",
    "format-avif": "Per-format cold renders: 300 px AVIF q50 (avif_speed 5 = sharp's effort 4; "
                   "`/default-speed`: imgorigin's default)",
    "format-png": "Per-format cold renders: 300 px PNG",
    "accept-mix": "Browser Accept mix on unique URLs without a format (auto format), format "
                  "upgrade off and on",
    "storm-idle": "Memory-tier hits on the 40 hot variants, idle",
    "storm-hits": "The same hits while a second wrk drives unique cold renders (8 connections)",
    "storm-paced-idle": "Memory-tier hits, each connection waiting 2 ms between answers, idle",
    "storm-paced-hits": "The same paced hits under the render storm",
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
        types = {}
        for r in runs:
            for item in filter(None, (r.get("content_types") or "").split(",")):
                ct, _, n = item.rpartition(":")
                types[ct] = types.get(ct, 0) + int(n)
        out.append({
            "scenario": scenario, "server": server, "runs": len(runs),
            "connections": runs[0]["connections"], "requests": int(sum(float(r["requests"] or 0) for r in runs)),
            "rps": num("req_per_s"), "p50": num("p50_ms"), "p99": num("p99_ms"),
            "cpu": num("cpu_pct"), "rss": num("peak_rss_mb"), "wrk": num("wrk_cpu_pct"),
            "other": num("other_cpu_pct"),
            "errors": int(sum(float(r["errors"] or 0) for r in runs)), "note": "; ".join(notes),
            "body_bytes": med([float(r.get("body_bytes") or 0) for r in runs]), "types": types,
            "upgrades": int(sum(float(r.get("upgrades") or 0) for r in runs)),
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
    big, drift, refused, eager, storm = [], [], [], [], {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 6 and parts[1] in STORM_MODES:
                    # build, mode, renders/s over the hit run, CPU queue depth at its start and
                    # end and the storm's own wrk RESULT, its fields joined by commas.
                    fields = dict(kv.split("=", 1) for kv in parts[5].split(",") if "=" in kv)
                    storm.setdefault((parts[0], parts[1]), []).append(
                        (float(parts[2]), parts[3], parts[4], fields))
                elif len(parts) == 4 and parts[1] == "drift":
                    drift.append((parts[0], int(parts[2]), int(parts[3])))
                elif len(parts) == 6 and parts[1] == "eager":
                    eager.append((parts[0], int(parts[2]), float(parts[3]), float(parts[4]),
                                  float(parts[5])))
                elif len(parts) == 6 and parts[1] == "refuse":
                    refused.append((parts[0], parts[2], parts[3], int(parts[4]), int(parts[5])))
                elif len(parts) == 7:
                    big.append(parts)
    return big, drift, refused, eager, storm


def find(rows, scenario, server):
    for r in rows:
        if r["scenario"] == scenario and r["server"] == server:
            return r
    return None


def verdict(ok):
    return "**met**" if ok else "**missed**"


FORMATS = (("jpeg", "JPEG q80", "floor_pipeline"), ("webp", "WebP q75", "floor_pipeline_webp"),
           ("avif", "AVIF q50", "floor_pipeline_avif"), ("png", "PNG", "floor_pipeline_png"))
FORMAT_TARGET = 1.3  # issue #18: each format at least 1.3× ipx on the same work
FLOOR_TARGET = 0.95  # as cold's: the in-process floor, less run-to-run noise
STORM_TARGET = 2.0   # p99 of hits under the storm at most 2× idle
STORM_MODES = {"storm": "as fast as they go", "storm-paced": "paced"}  # run.sh's storm modes
PNG_BYTES_TARGET = 1.01  # "without making files larger": the same 40 images, 1 % for rounding


def rate(v):
    return (f"{v:,.0f}" if v >= 100 else f"{v:.1f}") if v > 0 else "—"


def note_value(row, key):
    """The value of "key: value" in a row's note, or None."""
    for part in row["note"].split("; "):
        if part.startswith(key + ": "):
            return part[len(key) + 2:]
    return None


def formats_section(rows, floors, builds):
    """The per-format table and its Targets rows."""
    table, targets = [], []
    for fmt, label, floor_name in FORMATS:
        scenario = f"format-{fmt}"
        ipx = find(rows, scenario, "ipx")
        servers = [f"imgorigin-{b}" for b in builds] + [f"imgorigin-{b}/default-speed" for b in builds]
        for server in servers + ["ipx"]:
            r = find(rows, scenario, server)
            if not r:
                continue
            build = server.split("-", 1)[1].split("/")[0] if server != "ipx" else None
            same_work = server != "ipx" and "/" not in server
            vs_ipx = r["rps"] / ipx["rps"] if ipx and ipx["rps"] > 0 and server != "ipx" else None
            bytes_vs = (r["body_bytes"] / ipx["body_bytes"]
                        if ipx and ipx["body_bytes"] > 0 and server != "ipx" else None)
            floor = floors.get((build, floor_name)) if same_work else None
            vs_floor = r["rps"] / floor if floor else None
            table.append(
                f"| {label} | {server} | {rate(r['rps'])} | {r['p50']:.1f} | {r['p99']:.1f} | "
                f"{r['body_bytes'] / 1024:.1f} | {f'{bytes_vs:.2f}×' if bytes_vs else ''} | "
                f"{f'{vs_ipx:.2f}×' if vs_ipx else ''} | "
                f"{f'{floor:.1f}' if floor else ('n/a' if server != 'ipx' else '')} | "
                f"{f'{vs_floor:.2f}×' if vs_floor else ''} |")
            if server == "ipx":
                continue
            if vs_ipx is not None and same_work:
                # The floor over ipx: how far the same libvips calls with no server at all are
                # ahead of ipx. A server runs at about its floor, so a target well above this
                # figure asks for less codec work than sharp does, not a faster server.
                floor_vs_ipx = f"; the floor itself {floor / ipx['rps']:.2f}× ipx" if floor else ""
                targets.append(
                    f"| {label} ≥ {FORMAT_TARGET}× ipx, same work ({build}) | {r['rps']:.1f} vs "
                    f"{ipx['rps']:.1f} req/s = {vs_ipx:.2f}×; {r['body_bytes'] / 1024:.1f} vs "
                    f"{ipx['body_bytes'] / 1024:.1f} KiB per image{floor_vs_ipx} | "
                    f"{verdict(vs_ipx >= FORMAT_TARGET)} |")
            elif vs_ipx is not None:
                targets.append(
                    f"| {label} at imgorigin's default avif_speed vs ipx ({build}; not the same work: "
                    f"noted, not judged) | {r['rps']:.1f} vs {ipx['rps']:.1f} req/s = {vs_ipx:.2f}×; "
                    f"{r['body_bytes'] / 1024:.1f} vs {ipx['body_bytes'] / 1024:.1f} KiB per image | — |")
            if same_work:
                if floor:
                    targets.append(
                        f"| {label} ≥ {FLOOR_TARGET}× in-process {floor_name} ({build}) | "
                        f"{r['rps']:.1f} vs {floor:.1f} images/s = {vs_floor:.2f}× | "
                        f"{verdict(vs_floor >= FLOOR_TARGET)} |")
                else:
                    targets.append(f"| {label} ≥ {FLOOR_TARGET}× in-process {floor_name} ({build}) | "
                                   "no floor measured (bench_floor gave none) | n/a |")
            if fmt == "png" and same_work and bytes_vs is not None:
                targets.append(f"| PNG files not larger than ipx's (≤ {PNG_BYTES_TARGET}×) ({build}) | "
                               f"{r['body_bytes']:,.0f} vs {ipx['body_bytes']:,.0f} bytes per image "
                               f"= {bytes_vs:.3f}× | {verdict(bytes_vs <= PNG_BYTES_TARGET)} |")
    if not table:
        return [], []
    head = [
        "Per-format cold renders (the 40 photos under unique names → 300 px wide, 8 connections; "
        "imgorigin with no result cache at all; ipx 3.1.1 on sharp 0.34.5 with `f_…,q_…`). AVIF: "
        "`imgorigin-B` runs at avif_speed 5 (libvips effort 4, sharp's default: the same work as "
        "ipx), `imgorigin-B/default-speed` at imgorigin's default. Bytes per image: the average "
        "body of the 40 photos, each asked for once after the run under fresh names. In-process "
        "floor: `bench_floor`'s `floor_pipeline*` (the same libvips calls, 2 threads, no HTTP).\n",
        "| Output | Server | req/s | p50 ms | p99 ms | KiB/image | bytes × ipx | × ipx | "
        "floor images/s | × floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    return head + table + [""], targets


def share_text(types):
    total = sum(types.values())
    return ", ".join(f"{ct} {100 * n / total:.0f} %" for ct, n in
                     sorted(types.items(), key=lambda kv: -kv[1])) if total else "—"


def accept_section(rows, builds):
    """The browser Accept mix table and its Targets rows."""
    table, targets = [], []
    for b in builds:
        for speed, prefix in (("default (8)", "upgrade"), ("5", "upgrade-speed5")):
            off = find(rows, "accept-mix", f"imgorigin-{b}/{prefix}-off")
            on = find(rows, "accept-mix", f"imgorigin-{b}/{prefix}-on")
            for mode, r in (("off (upgrade_budget_ms 0)", off), ("on (default budget)", on)):
                if r:
                    table.append(
                        f"| {b} | {speed} | {mode} | {rate(r['rps'])} | {r['p50']:.1f} | "
                        f"{r['p99']:.1f} | {share_text(r['types'])} | {r['upgrades']} | "
                        f"{r['body_bytes'] / 1024:.1f} | {note_value(r, 'renders') or '?'} | "
                        f"{r['errors']} |")
            if off and on and off["p50"] > 0:
                ratio = on["p50"] / off["p50"]
                targets.append(
                    f"| Browser mix, avif_speed {speed}: no visitor waits for AVIF — upgrade on: "
                    f"p50 ≤ 0.5× upgrade off and fallbacks answered ({b}) | p50 {on['p50']:.1f} vs "
                    f"{off['p50']:.1f} ms = {ratio:.2f}×, p99 {on['p99']:.1f} vs {off['p99']:.1f} "
                    f"ms; {on['upgrades']} of {sum(on['types'].values())} answers with "
                    f"X-Format-Upgrade | {verdict(ratio <= 0.5 and on['upgrades'] > 0)} |")
    if not table:
        return [], []
    head = [
        "Browser Accept mix (`bench/load/urls.py` ACCEPT_MIX, a fixed 20-request cycle: 60 % "
        "Chromium `image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8`, 20 % Safari "
        "`image/webp,image/avif,image/jxl,image/heic,…`, 15 % Firefox "
        "`image/avif,image/webp,image/png,…`, 5 % `*/*`) on unique URLs without a format "
        "(`w:1200`, each format's default quality), one connection (one visitor at a time: what "
        "a visitor waits), a fresh server per row. Answers "
        "by Content-Type and X-Format-Upgrade are counted over all 200 answers; renders is "
        "`imgorigin_renders_total` over the run (background upgrades included).\n",
        "| libvips | avif_speed | Format upgrade | req/s | p50 ms | p99 ms | Answers by "
        "Content-Type | X-Format-Upgrade | KiB/answer | Renders | Errors |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    return head + table + [""], targets


def storm_section(rows, storm, builds):
    """The hits-under-a-render-storm table and its Targets rows."""
    table, targets = [], []
    for mode, hits_kind in STORM_MODES.items():
        for b in builds:
            idle = find(rows, f"{mode}-idle", f"imgorigin-{b}")
            hits = find(rows, f"{mode}-hits", f"imgorigin-{b}")
            if not (idle and hits):
                continue
            runs = storm.get((b, mode), [])
            renders = med([r for r, _, _, _ in runs])
            depth = ", ".join(f"{q0} → {q1}" for _, q0, q1, _ in runs) or "?"
            storm_errors = sum(int(f.get(k, 0)) for _, _, _, f in runs for k in
                               ("connect_err", "read_err", "write_err", "timeout", "non2xx"))
            storm_answers = sum(int(f.get("requests", 0)) for _, _, _, f in runs)
            ratio = hits["p99"] / idle["p99"] if idle["p99"] > 0 else float("inf")
            table.append(f"| {b} | {hits_kind} | {rate(idle['rps'])} | {idle['p50']:.2f} | "
                         f"{idle['p99']:.2f} | {rate(hits['rps'])} | {hits['p50']:.2f} | "
                         f"{hits['p99']:.2f} | {ratio:.2f}× | {renders:.1f} | {depth} | "
                         f"{storm_answers} ({storm_errors}) |")
            targets.append(f"| Hits ({hits_kind}) under a render storm: p99 ≤ "
                           f"{STORM_TARGET:.0f}× idle ({b}) | {hits['p99']:.2f} vs "
                           f"{idle['p99']:.2f} ms = {ratio:.2f}× ({renders:.1f} renders/s "
                           f"meanwhile) | {verdict(ratio <= STORM_TARGET)} |")
    if not table:
        return [], []
    head = [
        "Hits under a render storm: memory-tier hits on the 40 hot variants (16 connections), idle "
        "and then while a second wrk (1 thread, 8 connections) drives unique cold 300 px JPEG "
        "renders at the same server, from 1 s before the hit run to after it. Hits *as fast as "
        "they go* saturate the 2 cores with wrk, so their rate and latency follow the CPU the "
        "renders take; *paced* hits wait 2 ms per connection between answers, so their p99 is "
        "what a hit waits for a loop while the renders run. Renders/s: "
        "`imgorigin_renders_total` over the hit run; CPU queue depth: `imgorigin_queue_depth"
        "{pool=\"cpu\"}` at its start and end (> 0: the pool was saturated). The storm's wrk "
        "counts in the hit rows' *Others' CPU*.\n",
        "| libvips | Hits | Idle req/s | Idle p50 ms | Idle p99 ms | Storm req/s | Storm p50 ms | "
        "Storm p99 ms | p99 ratio | Renders/s | CPU queue depth | Storm answers (errors) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    return head + table + [""], targets


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
    big, drift, refused, eager, storm = read_memory(a.memory)
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
            cells = [f"{floors[(b, n)]:.1f}" if (b, n) in floors else "—"
                     for n in ("floor", "floor_same", "floor_1thread", "floor_pipeline")]
            w(f"| {b} | " + " | ".join(cells) + " |")
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

    formats_md, formats_targets = formats_section(rows, floors, builds)
    accept_md, accept_targets = accept_section(rows, builds)
    storm_md, storm_targets = storm_section(rows, storm, builds)
    md.extend(formats_md + accept_md + storm_md)

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
    md.extend(formats_targets + accept_targets + storm_targets)
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
