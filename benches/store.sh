#!/usr/bin/env bash
# The store's cost: a daemon's throughput on a stream of 100k-row files with
# the embedded store and with PostgreSQL (a throwaway cluster), run
# alternately, medians; then the per-file commit latency (median, p99, from
# the histogram cdr_rater_store_commit_seconds) with 1 and with 3 daemons on
# one database.
#
#   benches/store.sh [FILES] [RUNS] [WORKDIR]
#
# BIN=path/to/cdr-rater uses that binary instead of building the release one.
set -euo pipefail
FILES=${1:-20}
RUNS=${2:-3}
WORK=${3:-$(mktemp -d)}
ROWS=100000
PGBIN=/usr/lib/postgresql/15/bin
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/cdr-rater
fi
mkdir -p "$WORK" && chmod 755 "$WORK"
for i in $(seq 1 "$FILES"); do
  [ -f "$WORK/cdrs-$i.csv" ] || $BIN generate cdrs --rows $ROWS --seed $((500 + i)) --rates rates --out "$WORK/cdrs-$i.csv"
done

# The cluster (as the postgres user when root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PGDIR="$WORK/pg"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ ! -d "$PGDIR/data" ]; then
  mkdir -p "$PGDIR" && [ "$(id -u)" != 0 ] || chown postgres "$PGDIR"
  as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust >/dev/null
fi
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR" start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null' EXIT
# A new empty database (named by the clock: called in $(...), a counter would not persist).
newdb() { local db="b$(date +%s%N)"; as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE $db" >/dev/null; echo "postgresql://postgres@127.0.0.1:$PGPORT/$db"; }

# A daemon folder in $1 on store $2 ("" = embedded), site $3; prints its port.
setup() {
  local dir=$1 url=$2 site=$3 port
  rm -rf "$dir" && mkdir -p "$dir/spool/incoming" "$dir/staging" && cp -r rates "$dir/rates"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  { echo "settle_ms = 100"; echo "[metrics]"; echo "listen = \"127.0.0.1:$port\""
    [ -z "$url" ] || printf '[store]\nbackend = "postgres"\nurl = "%s"\nsite = "%s"\n' "$url" "$site"; } >"$dir/cdr-rater.toml"
  echo "$port"
}
# The metrics port of the daemon folder $1 (not the database's, also on 127.0.0.1).
port_of() { sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"$/\1/p' "$1/cdr-rater.toml"; }
# Runs daemons in the given folders over every file (each gets its own
# copy of the files, content made distinct per daemon); prints seconds.
stream() {
  local pids=() d start end i
  for d in "$@"; do (cd "$d" && exec "$BIN" run --allow-root --config cdr-rater.toml 2>daemon.log) & pids+=($!); done
  for d in "$@"; do p=$(port_of "$d"); until curl -s "http://127.0.0.1:$p/metrics" >/dev/null; do sleep 0.1; done; done
  sleep 1
  start=$(date +%s.%N)
  for i in $(seq 1 "$FILES"); do
    for d in "$@"; do { cat "$WORK/cdrs-$i.csv"; echo "x-$d,2026-11-24T10:00:00+01:00,C0001,0201234501,0612345678,1"; } >"$d/staging/f$i.csv"; mv "$d/staging/f$i.csv" "$d/spool/incoming/"; done
  done
  for d in "$@"; do until [ "$(ls "$d/spool/archive" 2>/dev/null | wc -l)" -ge "$FILES" ]; do sleep 0.05; done; done
  end=$(date +%s.%N)
  echo "$start $end" >"$WORK/last-stream"
  for d in "$@"; do curl -s "http://127.0.0.1:$(port_of "$d")/metrics" >"$d/metrics.txt"; done
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  wait "${pids[@]}" 2>/dev/null || true
  echo "$end - $start" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Median and p99 of the commit histogram summed over the daemons' metric
# dumps (upper bounds of the histogram's buckets).
latency() { python3 - "$@" <<'PY'
import sys, re
buckets = {}
for path in sys.argv[1:]:
    for line in open(path):
        m = re.match(r'cdr_rater_store_commit_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m: buckets[m.group(1)] = buckets.get(m.group(1), 0) + float(m.group(2))
les = sorted(((float('inf') if k == '+Inf' else float(k)), v) for k, v in buckets.items())
total = les[-1][1] if les else 0
def q(p):
    for le, c in les:
        if c >= p * total: return le
print(f"commits {int(total)}: median <= {q(0.5)*1000:.1f} ms, p99 <= {q(0.99)*1000:.1f} ms")
PY
}

emb=() pgs=()
for r in $(seq 1 "$RUNS"); do
  setup "$WORK/d-emb" "" "" >/dev/null
  s=$(stream "$WORK/d-emb"); emb+=("$s"); echo "run $r embedded: $FILES files of $ROWS rows in ${s}s"
  rm -rf "$WORK/d-emb"   # the outputs are most of the disk used
  setup "$WORK/d-pg" "$(newdb)" ams1 >/dev/null
  s=$(stream "$WORK/d-pg"); pgs+=("$s"); echo "run $r postgres: $FILES files of $ROWS rows in ${s}s"
  rm -rf "$WORK/d-pg"
done
me=$(printf '%s\n' "${emb[@]}" | median); mp=$(printf '%s\n' "${pgs[@]}" | median)
echo "median embedded: $(echo "$FILES * $ROWS / $me" | bc) rows/s; postgres: $(echo "$FILES * $ROWS / $mp" | bc) rows/s ($(echo "100 * $me / $mp" | bc)% of embedded)"

# Commit latency: 1 daemon, then 3 daemons on one database, scraped when done.
for n in 1 3; do
  url=$(newdb); dirs=()
  for i in $(seq 1 $n); do setup "$WORK/lat-$n-$i" "$url" "site$i" >/dev/null; dirs+=("$WORK/lat-$n-$i"); done
  stream "${dirs[@]}" >/dev/null
  echo "$n daemon(s): $(latency "${dirs[@]/%//metrics.txt}")"
  rm -rf "${dirs[@]}"
done
