#!/usr/bin/env bash
# The load benchmark, in one command: builds imgorigin (Release, against the system libvips and
# the npm one), starts it and its peers on loopback ports — ipx (npm, on sharp), nginx with
# image_filter, nginx serving the rendered bytes as static files — drives each with wrk in
# alternation, and writes bench/results/report.md, report.tsv and chart.png.
#
#   bench/load/run.sh [--duration S] [--rounds N] [--libvips system|npm|both] [--no-setup]
#                     [--no-build] [--only cold,hot,tiers,herd,mixed,formats,accept,storm,
#                                          memory,uploads,eager,micro]
#
# Every run is bounded (wrk -d, fixed connections), loopback only, and the script stops every
# process it started (by pid) on exit. See bench/README.md for what each scenario measures.

# Variables set through eval (wrk's RESULT line) and printf -v (PID_<server>):
# shellcheck disable=SC2154
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

DURATION=10          # seconds per wrk run
ROUNDS=1             # alternations of each scenario over the servers
LIBVIPS=both
SETUP=1
BUILD=1
ONLY="cold,hot,tiers,herd,mixed,formats,accept,storm,memory,uploads,eager,micro"
COLD_CONNS=8         # the issue's reference figures use 8 connections for cold, 64 for hits
HOT_CONNS=64
STORM_HIT_CONNS=16   # hits measured idle and under the render storm
WRK_THREADS=2
DRIFT_REQUESTS=20000
while (($#)); do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --libvips) LIBVIPS=$2; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

WORK=$ROOT/bench/work          # corpus, hard links, configs, logs (not committed)
OUT=$ROOT/bench/results        # report.md, report.tsv, chart.png (committed by the lead)
LOAD=$ROOT/bench/load
mkdir -p "$WORK/logs" "$OUT"
KEY=$(printf 'bench-key' | od -An -tx1 | tr -d ' \n')
SALT=$(printf 'bench-salt' | od -An -tx1 | tr -d ' \n')
HZ=$(getconf CLK_TCK)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# --- setup and build -------------------------------------------------------------------------
((SETUP)) && ./bench/setup.sh
builds=()
case "$LIBVIPS" in
  system) builds=(system) ;;
  npm) builds=(npm) ;;
  both) builds=(system npm) ;;
  *) echo "run.sh: --libvips system|npm|both" >&2; exit 2 ;;
esac
build_dir() { [ "$1" = system ] && echo "$ROOT/build-bench" || echo "$ROOT/build-bench-npm"; }
if ((BUILD)); then
  for b in "${builds[@]}"; do
    log "building imgorigin (Release, libvips $b) in $(build_dir "$b")"
    cmake -S . -B "$(build_dir "$b")" -DCMAKE_BUILD_TYPE=Release -DIMGORIGIN_BUILD_TESTS=OFF \
      -DIMGORIGIN_BUILD_BENCH=ON -DIMGORIGIN_LIBVIPS="$b" >/dev/null
    cmake --build "$(build_dir "$b")" -j"$(nproc)" >"$WORK/logs/build-$b.log" 2>&1 ||
      { tail -30 "$WORK/logs/build-$b.log"; exit 1; }
  done
fi
BIN0=$(build_dir "${builds[0]}")

# --- processes ---------------------------------------------------------------------------------
started=()
# No core files: a crash shows in the server log (and dmesg), never as a dump in the tree.
ulimit -c 0
cleanup() {
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {  # url [seconds]
  local deadline=$((SECONDS + ${2:-20}))
  until curl -s -o /dev/null "$1"; do
    ((SECONDS < deadline)) || { log "no answer from $1"; return 1; }
    sleep 0.2
  done
}
# A pid and its descendants (nginx workers, node's helpers).
pid_tree() {
  local p=$1
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null); do pid_tree "$c"; done
}
cpu_ticks() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the ")" that closes the command name: utime is 12th, stime 13th there.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
status_kb() {  # field pids… : sum of a /proc/PID/status field (VmHWM, VmRSS) in kB
  local field=$1 total=0 p v
  shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
reset_peak() { local p; for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }

# imgorigin NAME BUILD PORT [ENV=VALUE…]: starts a server; sets PID_<NAME>.
start_imgorigin() {
  local name=$1 build=$2 port=$3
  shift 3
  (cd "$WORK/logs" && exec env IMGORIGIN_BIND="127.0.0.1:$port" IMGORIGIN_KEY="$KEY" \
    IMGORIGIN_SALT="$SALT" IMGORIGIN_LOCAL_ROOT="$WORK/root" "$@" \
    "$(build_dir "$build")/origin/imgorigin" serve >"$WORK/logs/$name.log" 2>&1) &
  local pid=$!
  started+=("$pid")
  printf -v "PID_${name//-/_}" '%s' "$pid"
  # Its own line, not just an answer on the port: another server there must not pass for it.
  local deadline=$((SECONDS + 20))
  until grep -q "^imgorigin listening on" "$WORK/logs/$name.log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { log "$name exited: $(tail -1 "$WORK/logs/$name.log")"; return 1; }
    ((SECONDS < deadline)) || { log "$name did not start"; return 1; }
    sleep 0.2
  done
  wait_http "http://127.0.0.1:$port/health"
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# --- corpus --------------------------------------------------------------------------------------
# 40 photo-like 2048-px JPEGs (300–600 KB, see bench/micro/corpus.h), plus 24 MP and 100 MP ones.
log "corpus"
"$BIN0/bench/imgorigin_make_corpus" "$WORK/corpus" 40 2048 1365 >/dev/null
if wants memory; then
  "$BIN0/bench/imgorigin_make_corpus" "$WORK/big" 1 6000 4000 mp24- >/dev/null
  "$BIN0/bench/imgorigin_make_corpus" "$WORK/big" 1 10000 10000 mp100- >/dev/null
fi
# The served tree: hard links only (imgorigin's local root refuses symlinks that leave it).
# u/NNNNN.jpg are unique names for the same 40 files, so cold runs never repeat a URL while
# every server reads the same bytes from the page cache.
# Unique names needed: cold (every build, ipx, image_filter) and mixed (every build) per round,
# the drift runs per build, the formats, accept and storm runs, and a margin.
# formats: NAME|imgorigin options|ipx modifiers|unique URLs per second of run (over the fastest
# rate seen on the 2-core machine; a run that needs more says "URL list ran out").
FORMATS=("jpeg|w:300/q:80/f:jpg|w_300,q_80,f_jpeg|300"
         "webp|w:300/q:75/f:webp|w_300,q_75,f_webp|250"
         "avif|w:300/q:50/f:avif|w_300,q_50,f_avif|120"
         "png|w:300/f:png|w_300,f_png|200")
ACCEPT_RATE=40       # unique URLs per second of an accept run (a bound on the list, not a rate)
ACCEPT_MODES=(off on speed5-off speed5-on)
ACCEPT_CONNS=1       # one visitor at a time: what a visitor waits, not what the machine can do
STORM_RATE=300       # unique cold renders per second of the storm
STORM_LEAD=1         # seconds the storm runs before the hit run starts (and after it ends, +1)
STORM_PACE_MS=2      # the paced storm runs: each hit connection's wait between answers
POOL=$(( (2 * ${#builds[@]} + 2) * ROUNDS * 300 * DURATION
         + ${#builds[@]} * (DRIFT_REQUESTS / 10 + 600) + 1000 ))
if wants formats; then
  for f in "${FORMATS[@]}"; do
    # Every build and ipx; AVIF once more per build (imgorigin's default speed).
    rows=$(( ${#builds[@]} + 1 ))
    [ "${f%%|*}" = avif ] && rows=$((rows + ${#builds[@]}))
    POOL=$((POOL + ROUNDS * rows * (${f##*|} * DURATION + 40)))  # + the bytes sample
  done
fi
wants accept && POOL=$((POOL + ROUNDS * ${#ACCEPT_MODES[@]} * ${#builds[@]} * ACCEPT_RATE * DURATION))
wants storm && POOL=$((POOL + 2 * ROUNDS * ${#builds[@]} * STORM_RATE * (DURATION + 2 * STORM_LEAD + 1)))
mkdir -p "$WORK/root/photos" "$WORK/root/u" "$WORK/root/big" "$WORK/root/static"
for i in $(seq -f '%03g' 0 39); do
  [ "$WORK/corpus/photo$i.jpg" -ef "$WORK/root/photos/photo$i.jpg" ] ||
    ln -f "$WORK/corpus/photo$i.jpg" "$WORK/root/photos/photo$i.jpg"
done
for f in "$WORK"/big/*.jpg; do
  [ -e "$f" ] && ! [ "$f" -ef "$WORK/root/big/${f##*/}" ] && ln -f "$f" "$WORK/root/big/"
done
python3 - "$WORK/root" "$POOL" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    dst = f"{root}/u/{i:05d}.jpg"
    if not os.path.exists(dst):
        os.link(f"{root}/photos/photo{i % 40:03d}.jpg", dst)
EOF
NEXT_UNIQUE=0
take_unique() { local n=$1; UNIQUE_FIRST=$NEXT_UNIQUE; NEXT_UNIQUE=$((NEXT_UNIQUE + n)); }
urls() { python3 "$LOAD/urls.py" "$@" --key "$KEY" --salt "$SALT"; }

# --- results -------------------------------------------------------------------------------------
TSV=$OUT/report.tsv
# body_bytes, content_types, upgrades: over the 200 answers of runs with WALK_COUNT=1 (else 0,
# empty, 0): average body size (format-* rows: the 40-photo sample, sample_bytes), answers per
# Content-Type ("image/webp:12,…"), answers with X-Format-Upgrade. The note stays the last
# column (add_note).
printf 'scenario\tserver\tconnections\trequests\tseconds\treq_per_s\tp50_ms\tp99_ms\tcpu_pct\tpeak_rss_mb\terrors\twrk_cpu_pct\tother_cpu_pct\tbody_bytes\tcontent_types\tupgrades\tnote\n' >"$TSV"
row() { local IFS=$'\t'; echo "$*" >>"$TSV"; }
# Lines that are not wrk rows (memory, uploads refused, eager, storm): see report.py read_memory.
MEM_TSV=$WORK/memory.tsv
: >"$MEM_TSV"

# load SCENARIO SERVER PORT CONNS LIST PID [LIMIT] [NOTE]: bounded wrk load; appends a row.
# LIMIT = 0: one run of DURATION seconds. LIMIT > 0: chained 5-second runs until LIMIT responses
# (at most 120 runs); p50 is then the median of the runs' p50s, p99 the largest p99.
# WALK_COUNT=1 in the environment: walk.lua counts body bytes, Content-Types and upgrades.
load() {
  local scenario=$1 server=$2 port=$3 conns=$4 list=$5 pid=$6 limit=${7:-0} note=${8:-}
  local pids t0 t1 start end out result peak chunk_s=$DURATION
  local total_req=0 total_us=0 errs=0 wraps=0 runs=0 p50s=() p99=0 wrk_cpu=0 busy0 busy1
  # Set by the eval of walk.lua's RESULT line, summed over chained runs.
  local ok=0 body_bytes=0 upgrades=0 types="" total_ok=0 total_body=0 total_upgrades=0 all_types=""
  ((limit > 0)) && chunk_s=5
  # EXTRA_PIDS: processes the server needs that count as its cost (redis-server).
  mapfile -t pids < <(pid_tree "$pid"; for p in ${EXTRA_PIDS:-}; do echo "$p"; done)
  reset_peak "${pids[@]}"
  t0=$(cpu_ticks "${pids[@]}")
  busy0=$(busy_ticks)
  start=$(date +%s.%N)
  while :; do
    # bash's `time` gives wrk's own CPU, so the CPU the rest of the machine used is known too.
    { TIMEFORMAT='%U %S'; time wrk -t"$WRK_THREADS" -c"$conns" -d"${chunk_s}s" --timeout 10s \
        -s "$LOAD/walk.lua" "http://127.0.0.1:$port" -- "$list" "$WRK_THREADS" \
        $((limit > 0 ? limit - total_req : 0)) $((total_req / WRK_THREADS)) >"$WORK/wrk.out" 2>&1 \
        || true; } 2>"$WORK/wrk.time"
    out=$(cat "$WORK/wrk.out")
    wrk_cpu=$(awk -v c="$wrk_cpu" '{printf "%.2f", c + $1 + $2}' "$WORK/wrk.time")
    result=$(grep '^RESULT' <<<"$out" || true)
    if [ -z "$result" ]; then
      local status=alive
      kill -0 "$pid" 2>/dev/null || { status=0; wait "$pid" 2>/dev/null || status=$?; }
      log "wrk gave no result for $scenario/$server (server: $status): $out"
      row "$scenario" "$server" "$conns" 0 0 0 0 0 0 0 0 0 0 0 "" 0 \
        "wrk failed; server exit status: $status (see bench/work/logs)"
      return
    fi
    eval "$(sed 's/^RESULT //; s/ /;/g' <<<"$result")"
    # requests, duration_us, p50_us, p99_us, *_err, timeout, non2xx, wrapped: set by the eval.
    # A chained run stops sending at its share of LIMIT, then idles until -d: count only the
    # time it was sending (its share of requests at the rate its own latency allowed).
    total_req=$((total_req + requests))
    total_us=$((total_us + duration_us))
    errs=$((errs + connect_err + read_err + write_err + timeout + non2xx))
    wraps=$((wraps + wrapped))
    total_ok=$((total_ok + ok))
    total_body=$((total_body + body_bytes))
    total_upgrades=$((total_upgrades + upgrades))
    [ -n "$types" ] && all_types=${all_types:+$all_types,}$types
    p50s+=("$p50_us")
    ((p99_us > p99)) && p99=$p99_us
    runs=$((runs + 1))
    ((limit == 0 || total_req >= limit || runs >= 120)) && break
  done
  end=$(date +%s.%N)
  busy1=$(busy_ticks)
  if ! kill -0 "$pid" 2>/dev/null; then
    local status=0
    wait "$pid" 2>/dev/null || status=$?
    note="${note:+$note; }SERVER DIED during the run (exit status $status; see bench/work/logs)"
    log "$server died during $scenario (exit status $status)"
  fi
  mapfile -t pids < <(pid_tree "$pid"; for p in ${EXTRA_PIDS:-}; do echo "$p"; done)
  t1=$(cpu_ticks "${pids[@]}")
  peak=$(status_kb VmHWM "${pids[@]}")
  local p50 secs rps cpu
  p50=$(printf '%s\n' "${p50s[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  secs=$(awk -v d="$total_us" 'BEGIN {printf "%.2f", d / 1e6}')
  rps=$(awk -v r="$total_req" -v d="$total_us" 'BEGIN {printf "%.1f", r / (d / 1e6)}')
  ((limit > 0)) && rps=""  # the chained runs idle after their share: no rate to report
  cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v s="$start" -v e="$end" \
    'BEGIN {printf "%.0f", 100 * t / hz / (e - s)}')
  # Everything else the machine ran meanwhile (other users' builds…): the noise in this row.
  local wrk_pct other
  wrk_pct=$(awk -v w="$wrk_cpu" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", 100 * w / (e - s)}')
  other=$(awk -v b="$((busy1 - busy0))" -v t="$((t1 - t0))" -v hz="$HZ" -v w="$wrk_cpu" \
    -v s="$start" -v e="$end" 'BEGIN {v = 100 * ((b - t) / hz - w) / (e - s); printf "%.0f", v < 0 ? 0 : v}')
  # Cold lists must not repeat; hot lists cycle on purpose.
  if ((wraps)) && [[ $scenario == cold || $scenario == mixed-90 || $scenario == drift* ||
                     $scenario == format-* || $scenario == accept-* ]]; then
    note="${note:+$note; }URL list ran out: some URLs repeated"
  fi
  row "$scenario" "$server" "$conns" "$total_req" "$secs" "${rps:-0}" \
    "$(awk -v v="$p50" 'BEGIN {printf "%.2f", v / 1000}')" \
    "$(awk -v v="$p99" 'BEGIN {printf "%.2f", v / 1000}')" \
    "$cpu" "$(awk -v v="$peak" 'BEGIN {printf "%.0f", v / 1024}')" "$errs" "$wrk_pct" "$other" \
    $((total_ok ? total_body / total_ok : 0)) "$all_types" "$total_upgrades" "$note"
  log "$scenario $server: $total_req requests, ${rps:-n/a} req/s, p50 $((p50 / 1000)) ms, p99 $((p99 / 1000)) ms, cpu $cpu %, wrk $wrk_pct %, others $other %, errors $errs${all_types:+, $((total_body / (total_ok ? total_ok : 1))) bytes per answer, types $all_types, upgrades $total_upgrades}"
}

add_note() {  # appends to the note of the last row
  awk -v n="$1" 'BEGIN {FS = OFS = "\t"} {lines[NR] = $0}
    END {for (i = 1; i < NR; i++) print lines[i]; $0 = lines[NR];
         $NF = ($NF == "" ? n : $NF "; " n); print}' "$TSV" >"$TSV.tmp" && mv "$TSV.tmp" "$TSV"
}
set_bytes() {  # sets the body_bytes column (14th) of the last row
  awk -v v="$1" 'BEGIN {FS = OFS = "\t"} {lines[NR] = $0}
    END {for (i = 1; i < NR; i++) print lines[i]; $0 = lines[NR]; $14 = v; print}' "$TSV" \
    >"$TSV.tmp" && mv "$TSV.tmp" "$TSV"
}
# sample_bytes KIND PORT [urls.py options…]: the average body of the 40 photos, each asked for
# once under a fresh unique name (so that rows compare the same images), 200 answers only.
sample_bytes() {
  local kind=$1 port=$2 path
  shift 2
  take_unique 40
  urls "$kind" "$WORK/sample.txt" --first "$UNIQUE_FIRST" --count 40 "$@"
  while read -r path; do
    curl -s -o /dev/null --max-time 30 -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$port$path" || true
  done <"$WORK/sample.txt" | awk '$1 == 200 {n++; s += $2} END {printf "%d", n ? s / n : 0}'
}
metric() {  # port name → value of an unlabelled or first-labelled Prometheus counter
  # awk reads to the end: exiting early would fail curl's write (23) and, with pipefail, the run.
  curl -s "http://127.0.0.1:$1/metrics" |
    awk -v n="$2" '!found && ($1 == n || index($1, n "{") == 1) {print $2; found = 1}'
}
x_cache() { curl -s -o /dev/null -D - "http://127.0.0.1:$1$2" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" {print $2}'; }

# --- servers -----------------------------------------------------------------------------------
declare -A PORT=([system]=18081 [npm]=18082)
PORT_IPX=18083
PORT_NGINX=18084
for b in "${builds[@]}"; do start_imgorigin "imgorigin-$b" "$b" "${PORT[$b]}"; done

PID_IPX=""
if wants cold || wants herd || wants formats; then
  (cd "$WORK" && NODE_ENV=production exec node "$ROOT/bench/node_modules/ipx/bin/ipx.mjs" serve \
    --dir "$WORK/root" --host 127.0.0.1 --port "$PORT_IPX" >"$WORK/logs/ipx.log" 2>&1) &
  PID_IPX=$!
  started+=("$PID_IPX")
  wait_http "http://127.0.0.1:$PORT_IPX/w_10/photos/photo000.jpg"
fi

mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_http_image_filter_module.so;
worker_processes $(nproc);
pid $WORK/nginx/nginx.pid;
error_log $WORK/logs/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  open_file_cache max=10000 inactive=60s;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  types { image/jpeg jpg; }
  server {
    listen 127.0.0.1:$PORT_NGINX;
    location /static/ { alias $WORK/root/static/; }
    location /filter/ {
      alias $WORK/root/;
      image_filter resize 300 -;
      image_filter_jpeg_quality 80;
      image_filter_buffer 32M;
    }
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PID_NGINX=$!
started+=("$PID_NGINX")
wait_http "http://127.0.0.1:$PORT_NGINX/static/"  # any answer (404 is fine) means it is up

# The 40 hot variants, rendered once by the first build: nginx serves exactly these bytes.
urls imgorigin "$WORK/hot-imgorigin.txt" --hot
urls static "$WORK/hot-static.txt" --hot
i=0
while read -r path; do
  curl -sf -o "$WORK/root/static/photo$(printf '%03d' $i).jpg" "http://127.0.0.1:${PORT[${builds[0]}]}$path"
  i=$((i + 1))
done <"$WORK/hot-imgorigin.txt"
STATIC_BYTES=$(stat -c %s "$WORK/root/static/photo000.jpg")

# --- micro: the in-process floor (and, briefly, the micro-benchmarks) ---------------------------
# formats alone needs only the per-format floors (floor_pipeline, floor_pipeline_webp, …).
rm -f "$WORK"/floor-*.csv
if wants cold || wants micro || wants formats; then
  floor_filter=.
  wants cold || wants micro || floor_filter=floor_pipeline
  for b in "${builds[@]}"; do
    log "in-process floor, libvips $b"
    IMGORIGIN_BENCH_CORPUS=$WORK/corpus "$(build_dir "$b")/bench/bench_floor" \
      --benchmark_filter="$floor_filter" --benchmark_min_time="$DURATION" --benchmark_format=csv \
      >"$WORK/floor-$b.csv" 2>/dev/null || true
    grep -o 'Thumbnail/floor/[^,]*,[^,]*' "$WORK/floor-$b.csv" >&2 || true
  done
fi

# --- scenarios ---------------------------------------------------------------------------------
COLD_PER_RUN=$((300 * DURATION))
for round in $(seq 1 "$ROUNDS"); do
  if wants cold; then
    for target in "${builds[@]}" ipx filter; do
      take_unique "$COLD_PER_RUN"
      case "$target" in
        ipx) urls ipx "$WORK/cold.txt" --first "$UNIQUE_FIRST" --count "$COLD_PER_RUN"
             load cold ipx "$PORT_IPX" "$COLD_CONNS" "$WORK/cold.txt" "$PID_IPX" ;;
        filter) urls filter "$WORK/cold.txt" --first "$UNIQUE_FIRST" --count "$COLD_PER_RUN"
                load cold nginx-image_filter "$PORT_NGINX" "$COLD_CONNS" "$WORK/cold.txt" "$PID_NGINX" ;;
        *) urls imgorigin "$WORK/cold.txt" --first "$UNIQUE_FIRST" --count "$COLD_PER_RUN"
           pid_var=PID_imgorigin_$target
           load cold "imgorigin-$target" "${PORT[$target]}" "$COLD_CONNS" "$WORK/cold.txt" "${!pid_var}" ;;
      esac
    done
  fi

  if wants hot; then
    for target in "${builds[@]}" static; do
      if [ "$target" = static ]; then
        load hot-memory nginx-static "$PORT_NGINX" "$HOT_CONNS" "$WORK/hot-static.txt" "$PID_NGINX" 0 \
          "$STATIC_BYTES-byte file"
      else
        while read -r path; do curl -s -o /dev/null "http://127.0.0.1:${PORT[$target]}$path"; done \
          <"$WORK/hot-imgorigin.txt"
        xc=$(x_cache "${PORT[$target]}" "$(head -1 "$WORK/hot-imgorigin.txt")")
        pid_var=PID_imgorigin_$target
        load hot-memory "imgorigin-$target" "${PORT[$target]}" "$HOT_CONNS" "$WORK/hot-imgorigin.txt" \
          "${!pid_var}" 0 "X-Cache: $xc"
      fi
    done
  fi

  if wants herd; then
    # One new URL, 64 connections at once: the renders counter must move by exactly one.
    for target in "${builds[@]}"; do
      urls imgorigin "$WORK/herd.txt" --rel "photos/photo007.jpg" --options "w:$((310 + round))/q:80"
      before=$(metric "${PORT[$target]}" imgorigin_renders_total)
      pid_var=PID_imgorigin_$target
      load herd-64 "imgorigin-$target" "${PORT[$target]}" 64 "$WORK/herd.txt" "${!pid_var}"
      after=$(metric "${PORT[$target]}" imgorigin_renders_total)
      add_note "renders: $((after - before))"
    done
    urls ipx "$WORK/herd.txt" --rel "photos/photo007.jpg" --ipx-modifiers "w_$((310 + round)),q_80"
    if [ -n "$PID_IPX" ]; then
      load herd-64 ipx "$PORT_IPX" 64 "$WORK/herd.txt" "$PID_IPX" 0 "no result cache: every request renders"
    fi
  fi

  if wants mixed; then
    for target in "${builds[@]}"; do
      n=$((COLD_PER_RUN * 10))
      take_unique $((n / 10))
      urls imgorigin "$WORK/mixed.txt" --mix-every 10 --first "$UNIQUE_FIRST" --count "$n"
      pid_var=PID_imgorigin_$target
      load mixed-90 "imgorigin-$target" "${PORT[$target]}" "$HOT_CONNS" "$WORK/mixed.txt" "${!pid_var}"
    done
  fi

  # Per-format cold renders: unique URLs, result cache off for imgorigin (no memory tier, no
  # other tier; ipx has none), each build and ipx in turn per format. AVIF twice per build: at
  # avif_speed 5 (libvips effort 4, sharp's default: the same work as ipx) and at imgorigin's
  # default speed. Bytes per image: the 40 photos once each, after each run (sample_bytes).
  if wants formats; then
    # A port per build and speed: every server runs through the whole scenario.
    declare -A FMT_PORT=([system]=18097 [npm]=18101) FMTD_PORT=([system]=18098 [npm]=18102)
    for b in "${builds[@]}"; do
      start_imgorigin "fmt-$b" "$b" "${FMT_PORT[$b]}" IMGORIGIN_MEMORY_CACHE_SIZE=0 \
        IMGORIGIN_AVIF_SPEED=5
      start_imgorigin "fmtd-$b" "$b" "${FMTD_PORT[$b]}" IMGORIGIN_MEMORY_CACHE_SIZE=0
    done
    for f in "${FORMATS[@]}"; do
      IFS='|' read -r fmt options modifiers rate <<<"$f"
      n=$((rate * DURATION))
      for target in "${builds[@]}" ipx; do
        take_unique "$n"
        if [ "$target" = ipx ]; then
          urls ipx "$WORK/format.txt" --first "$UNIQUE_FIRST" --count "$n" --ipx-modifiers "$modifiers"
          WALK_COUNT=1 load "format-$fmt" ipx "$PORT_IPX" "$COLD_CONNS" "$WORK/format.txt" "$PID_IPX" 0 \
            "$modifiers"
          set_bytes "$(sample_bytes ipx "$PORT_IPX" --ipx-modifiers "$modifiers")"
          continue
        fi
        urls imgorigin "$WORK/format.txt" --first "$UNIQUE_FIRST" --count "$n" --options "$options"
        pid_var=PID_fmt_$target
        note=$options
        [ "$fmt" = avif ] && note="$options; avif_speed 5 (effort 4, sharp's default: the same work)"
        WALK_COUNT=1 load "format-$fmt" "imgorigin-$target" "${FMT_PORT[$target]}" "$COLD_CONNS" \
          "$WORK/format.txt" "${!pid_var}" 0 "$note"
        set_bytes "$(sample_bytes imgorigin "${FMT_PORT[$target]}" --options "$options")"
        [ "$fmt" = avif ] || continue
        take_unique "$n"
        urls imgorigin "$WORK/format.txt" --first "$UNIQUE_FIRST" --count "$n" --options "$options"
        pid_var=PID_fmtd_$target
        WALK_COUNT=1 load "format-$fmt" "imgorigin-$target/default-speed" "${FMTD_PORT[$target]}" \
          "$COLD_CONNS" "$WORK/format.txt" "${!pid_var}" 0 "$options; imgorigin's default avif_speed"
        set_bytes "$(sample_bytes imgorigin "${FMTD_PORT[$target]}" --options "$options")"
      done
    done
    for b in "${builds[@]}"; do
      pid_var=PID_fmt_$b && stop_pid "${!pid_var}"
      pid_var=PID_fmtd_$b && stop_pid "${!pid_var}"
    done
  fi

  # The browser Accept mix (urls.py ACCEPT_MIX: 60 % Chromium, 20 % Safari, 15 % Firefox, 5 %
  # "*/*") on unique URLs without a format (w:1200, the size the issue saw AVIF take 0.5–1.7 s at;
  # the formats' default qualities), one visitor at a time (ACCEPT_CONNS; with more, the closed
  # loop saturates the CPU and measures throughput instead of the wait): a fresh server per row,
  # format upgrade off (upgrade_budget_ms 0: every AVIF-capable browser waits for AVIF) and on, at
  # the default avif_speed and at speed 5 (sharp's effort, where AVIF costs ten times WebP).
  # Notes: renders counted by the server (upgrades render twice).
  if wants accept; then
    for b in "${builds[@]}"; do
      for mode in "${ACCEPT_MODES[@]}"; do
        env=()
        [[ $mode == speed5-* ]] && env=(IMGORIGIN_AVIF_SPEED=5)
        [[ $mode == *off ]] && env+=(IMGORIGIN_UPGRADE_BUDGET_MS=0)
        start_imgorigin "accept-$b" "$b" 18099 "${env[@]}"
        pid_var=PID_accept_$b
        n=$((ACCEPT_RATE * DURATION))
        take_unique "$n"
        urls imgorigin "$WORK/accept.txt" --first "$UNIQUE_FIRST" --count "$n" --options w:1200 \
          --accept-mix
        before=$(metric 18099 imgorigin_renders_total)
        # wrk needs a connection per thread.
        WRK_THREADS=$ACCEPT_CONNS WALK_COUNT=1 load accept-mix "imgorigin-$b/upgrade-$mode" 18099 \
          "$ACCEPT_CONNS" "$WORK/accept.txt" "${!pid_var}" 0 \
          "${env[*]:-upgrade settings at their defaults}"
        after=$(metric 18099 imgorigin_renders_total)
        add_note "renders: $((${after:-0} - ${before:-0}))"
        stop_pid "${!pid_var}"
      done
    done
  fi

  # Hits under a render storm: memory-tier hits on the 40 hot variants (STORM_HIT_CONNS
  # connections), idle, then again while a second wrk drives unique cold renders (8 connections,
  # started STORM_LEAD s before the hit run and ending after it). The storm's renders/s over the
  # hit run (imgorigin_renders_total) and the CPU pool's queue depth at its start and end show
  # that the pool was saturated. Twice: hits as fast as they go (storm-*: wrk and the server
  # share the 2 cores, so the rate and the latency follow the CPU the renders take), then paced
  # (storm-paced-*: each connection waits STORM_PACE_MS between answers, so the p99 is what a
  # hit waits for a loop while the renders run, not the length of wrk's queue).
  if wants storm; then
    for b in "${builds[@]}"; do
      start_imgorigin "storm-$b" "$b" 18100
      pid_var=PID_storm_$b
      while read -r path; do curl -s -o /dev/null "http://127.0.0.1:18100$path"; done \
        <"$WORK/hot-imgorigin.txt"
      xc=$(x_cache 18100 "$(head -1 "$WORK/hot-imgorigin.txt")")
      for mode in storm storm-paced; do
        pace=""
        [ "$mode" = storm-paced ] && pace=$STORM_PACE_MS && sleep 1  # the last storm's renders
        WALK_DELAY_MS=$pace load "$mode-idle" "imgorigin-$b" 18100 "$STORM_HIT_CONNS" \
          "$WORK/hot-imgorigin.txt" "${!pid_var}" 0 "X-Cache: $xc${pace:+; paced: $pace ms between answers}"
        storm_s=$((DURATION + 2 * STORM_LEAD + 1))
        n=$((STORM_RATE * storm_s))
        take_unique "$n"
        urls imgorigin "$WORK/storm-cold.txt" --first "$UNIQUE_FIRST" --count "$n"
        wrk -t1 -c"$COLD_CONNS" -d"${storm_s}s" --timeout 10s -s "$LOAD/walk.lua" \
          "http://127.0.0.1:18100" -- "$WORK/storm-cold.txt" 1 >"$WORK/storm.out" 2>&1 &
        storm_pid=$!
        started+=("$storm_pid")
        sleep "$STORM_LEAD"
        r0=$(metric 18100 imgorigin_renders_total)
        q0=$(metric 18100 imgorigin_queue_depth)
        s0=$(date +%s.%N)
        WALK_DELAY_MS=$pace load "$mode-hits" "imgorigin-$b" 18100 "$STORM_HIT_CONNS" \
          "$WORK/hot-imgorigin.txt" "${!pid_var}" 0 \
          "X-Cache: $xc${pace:+; paced: $pace ms between answers}; under $COLD_CONNS connections of unique cold renders"
        r1=$(metric 18100 imgorigin_renders_total)
        q1=$(metric 18100 imgorigin_queue_depth)
        s1=$(date +%s.%N)
        q0=${q0:-n/a} q1=${q1:-n/a}  # a build without the gauge
        wait "$storm_pid" || true  # bounded: its -d, plus --timeout for the last requests
        storm=$(grep '^RESULT' "$WORK/storm.out" | sed 's/^RESULT //' || true)
        rate=$(awk -v a="${r0:-0}" -v b="${r1:-0}" -v s="$s0" -v e="$s1" \
          'BEGIN {printf "%.1f", (b - a) / (e - s)}')
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$mode" "$rate" "$q0" "$q1" "${storm// /,}" \
          >>"$MEM_TSV"
        add_note "storm: $rate renders/s, CPU queue depth $q0 → $q1"
        log "$mode $b: $rate renders/s during the hit run, CPU pool queue depth $q0 -> $q1"
      done
      stop_pid "${!pid_var}"
    done
  fi
done

# Hits from each tier below memory, with the memory tier off. The shared tiers' servers run on
# loopback ports of their own and count as the server's cost.
# tier_load SCENARIO PORT ENV=VALUE…: one imgorigin on PORT with that tier, warmed, then loaded.
tier_load() {
  local scenario=$1 port=$2 xc name=tier-$1
  shift 2
  start_imgorigin "$name" "${builds[0]}" "$port" IMGORIGIN_MEMORY_CACHE_SIZE=0 "$@"
  while read -r p; do curl -s -o /dev/null "http://127.0.0.1:$port$p"; done <"$WORK/hot-imgorigin.txt"
  sleep 1  # write-behind
  xc=$(x_cache "$port" "$(head -1 "$WORK/hot-imgorigin.txt")")
  local pid_var="PID_${name//-/_}"
  load "$scenario" "imgorigin-${builds[0]}" "$port" "$HOT_CONNS" "$WORK/hot-imgorigin.txt" \
    "${!pid_var}" 0 "X-Cache: $xc (memory tier off)${EXTRA_PIDS:+; CPU and RSS include the cache server}"
  stop_pid "${!pid_var}"
}
if wants tiers; then
  redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no \
    --logfile "$WORK/logs/redis.log" &
  PID_REDIS=$!
  # memcached refuses to run as root unless told which user to be.
  memcached -l 127.0.0.1 -p 16380 -U 0 -m 256 -I 2m -u "$(id -un)" >"$WORK/logs/memcached.log" 2>&1 &
  PID_MEMCACHED=$!
  started+=("$PID_REDIS" "$PID_MEMCACHED")
  sleep 0.5
  EXTRA_PIDS=$PID_REDIS tier_load hot-redis 18091 IMGORIGIN_REDIS_URL=redis://127.0.0.1:16379
  EXTRA_PIDS=$PID_MEMCACHED tier_load hot-memcached 18096 \
    IMGORIGIN_MEMCACHED_SERVERS=127.0.0.1:16380
  rm -rf "$WORK/disk-cache" && mkdir -p "$WORK/disk-cache"
  tier_load hot-disk 18092 IMGORIGIN_DISK_CACHE_DIR="$WORK/disk-cache"
fi

# --- memory ---------------------------------------------------------------------------------------
if wants memory; then
  for b in "${builds[@]}"; do
    for big in mp24-000 mp100-000; do
      mem_pid=PID_mem_$b
      start_imgorigin "mem-$b" "$b" 18093 IMGORIGIN_MAX_SRC_PIXELS=120000000 IMGORIGIN_MAX_SRC_BYTES=512MiB
      idle=$(status_kb VmRSS "${!mem_pid}")
      urls imgorigin "$WORK/big.txt" --rel "big/$big.jpg"
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:18093$(cat "$WORK/big.txt")")
      peak=$(status_kb VmHWM "${!mem_pid}")
      dims=$(vipsheader "$WORK/root/big/$big.jpg" | awk '{print $2}')
      size=$(stat -c %s "$WORK/root/big/$big.jpg")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$big" "$dims" "$size" "$code" "$idle" "$peak" >>"$MEM_TSV"
      log "memory $b $big ($dims): HTTP $code, idle $((idle / 1024)) MB, peak $((peak / 1024)) MB"
      stop_pid "${!mem_pid}"
    done
    # RSS drift: a small memory tier (so that it is full before the measurement starts), a
    # warm-up, then DRIFT_REQUESTS mixed requests; VmRSS before and after.
    drift_pid=PID_drift_$b
    start_imgorigin "drift-$b" "$b" 18094 IMGORIGIN_MEMORY_CACHE_SIZE=8MiB
    take_unique $((DRIFT_REQUESTS / 10 + 600))
    # Margins: the last chained run sends up to one request per connection past its limit.
    urls imgorigin "$WORK/drift.txt" --mix-every 10 --first "$UNIQUE_FIRST" \
      --count $((DRIFT_REQUESTS + 6000))
    head -5000 "$WORK/drift.txt" >"$WORK/drift-warm.txt"
    tail -n +5001 "$WORK/drift.txt" >"$WORK/drift-run.txt"
    # Each RSS is read 2 s after its load: jemalloc returns freed pages over dirty_decay_ms (1 s,
    # origin/main.cc), so a read at once counts up to a second of freed renders (30–50 MB here).
    load drift-warmup "imgorigin-$b" 18094 16 "$WORK/drift-warm.txt" "${!drift_pid}" 4000
    sleep 2
    rss0=$(status_kb VmRSS "${!drift_pid}")
    load drift-20k "imgorigin-$b" 18094 16 "$WORK/drift-run.txt" "${!drift_pid}" "$DRIFT_REQUESTS"
    sleep 2
    rss1=$(status_kb VmRSS "${!drift_pid}")
    # A dead server has no RSS: no drift figure rather than a -100 % one.
    ((rss1 > 0)) && printf '%s\tdrift\t%s\t%s\n' "$b" "$rss0" "$rss1" >>"$MEM_TSV"
    log "drift $b: RSS $((rss0 / 1024)) MB -> $((rss1 / 1024)) MB"
    stop_pid "${!drift_pid}"
  done
fi

# --- uploads ------------------------------------------------------------------------------------
# POST /v1/images of a 1 MB photo JPEG and a 48 MB PNG (near the default ingest.max_upload_bytes):
# uploads/s and peak RSS, each upload checked (a full decode), hashed and stored with its SQLite
# record. Then a 200 MB body, declared (refused from the head) and chunked (cut off at the
# limit): the server's peak RSS must not follow the body's size.
if wants uploads; then
  API_KEY=bench-api-key
  "$BIN0/bench/imgorigin_make_corpus" "$WORK/upload" 1 3300 2200 photo- >/dev/null
  python3 "$LOAD/noise_png.py" 4000 4000 "$WORK/upload/noise.png"
  head -c 200000000 /dev/zero >"$WORK/upload/zero-200MB.bin"
  echo /v1/images >"$WORK/upload/path.txt"
  for b in "${builds[@]}"; do
    up_pid=PID_up_$b
    rm -rf "$WORK/upload-data" "$WORK/root/uploads"
    start_imgorigin "up-$b" "$b" 18095 IMGORIGIN_INGEST_ENABLED=true IMGORIGIN_API_KEY=$API_KEY \
      IMGORIGIN_DATA_DIR="$WORK/upload-data"
    for f in upload-1MB:photo-000.jpg:image/jpeg:4 upload-48MB:noise.png:image/png:2; do
      IFS=: read -r scenario file type conns <<<"$f"
      size=$(stat -c %s "$WORK/upload/$file")
      WALK_POST_BODY=$WORK/upload/$file WALK_POST_TYPE=$type WALK_POST_AUTH="Bearer $API_KEY" \
        load "$scenario" "imgorigin-$b" 18095 "$conns" "$WORK/upload/path.txt" "${!up_pid}" 0 \
        "$file, $size bytes"
      rm -rf "$WORK/root/uploads"/*  # the stored originals: up to GBs of copies of one file
    done
    for how in declared chunked; do
      idle=$(status_kb VmRSS "${!up_pid}")
      reset_peak "${!up_pid}"
      header='Expect:'  # no 100-continue: the client sends the body whatever the answer
      [ "$how" = chunked ] && header='Transfer-Encoding: chunked'
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
        -H 'Content-Type: image/png' -H "$header" --data-binary @"$WORK/upload/zero-200MB.bin" \
        --max-time 60 http://127.0.0.1:18095/v1/images || true)
      peak=$(status_kb VmHWM "${!up_pid}")
      printf '%s\trefuse\t%s\t%s\t%s\t%s\n' "$b" "$how" "$code" "$idle" "$peak" >>"$MEM_TSV"
      log "200 MB upload ($how) on $b: HTTP $code, RSS $((idle / 1024)) MB before, peak $((peak / 1024)) MB"
    done
    stop_pid "${!up_pid}"
    rm -rf "$WORK/upload-data" "$WORK/root/uploads"
  done
  rm -f "$WORK/upload/zero-200MB.bin"
fi

# --- eager presets ----------------------------------------------------------------------------
# Uploads fully processed per second (docs/ingest.md, Capacity): 2 MP corpus photos POSTed over 4
# connections into the embedded default (SQLite records and queue, local originals and
# variants), each followed by its three presets (160, 800, 1600 px) rendered from one decode,
# cached, written as files and recorded; timed from the first POST to the last ready record.
if wants eager; then
  API_KEY=bench-api-key
  EAGER_COUNT=$((DURATION * 20))
  for b in "${builds[@]}"; do
    eager_pid=PID_eager_$b
    rm -rf "$WORK/eager-data" "$WORK/root/uploads"
    start_imgorigin "eager-$b" "$b" 18096 IMGORIGIN_INGEST_ENABLED=true IMGORIGIN_API_KEY=$API_KEY \
      IMGORIGIN_DATA_DIR="$WORK/eager-data" IMGORIGIN_VARIANTS_STORE="$WORK/eager-data/variants" \
      IMGORIGIN_PRESETS="small=rs:fit:160:160,medium=rs:fit:800:800,large=rs:fit:1600:1600" \
      IMGORIGIN_EAGER=small,medium,large IMGORIGIN_JOBS_THREADS="$(nproc)"
    if line=$(python3 "$LOAD/eager.py" 18096 "$API_KEY" "$EAGER_COUNT" 4 "$WORK"/corpus/photo00*.jpg); then
      printf '%s\teager\t%s\n' "$b" "$line" >>"$MEM_TSV"
      log "eager $b: $line (count, seconds, uploads/s, median s to ready)"
    fi
    stop_pid "${!eager_pid}"
    rm -rf "$WORK/eager-data" "$WORK/root/uploads"
  done
fi

# --- micro-benchmarks (short) ---------------------------------------------------------------------
if wants micro; then
  for m in grammar signing cache pipeline eager; do
    IMGORIGIN_BENCH_CORPUS=$WORK/corpus "$BIN0/bench/bench_$m" --benchmark_min_time=0.2 \
      >"$WORK/micro-$m.txt" 2>/dev/null || true
  done
fi

# --- report ----------------------------------------------------------------------------------------
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$LOAD/report.py" --results "$TSV" --memory "$MEM_TSV" \
  --micro-dir "$WORK" --out "$OUT" --duration "$DURATION" --rounds "$ROUNDS" \
  --loadavg "$LOADAVG" --builds "${builds[*]}"
log "report: $OUT/report.md"
