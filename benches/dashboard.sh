#!/usr/bin/env bash
# Dashboard latency while the daemon rates (issue #17: under 50 ms with
# 10,000 customers). Sets up a generated deck with 10,000 customers, warms
# the IDS state with a month of their traffic (every customer has 30 days
# of state), then drops more files and, while they are being rated, times
# `GET /` and `GET /api/ids` with curl's time_total. Prints the median and
# p99 of each, and how many files were rated during the sampling.
#
#   benches/dashboard.sh [SAMPLES] [ROWS_PER_FILE] [FILES] [WORKDIR]
#
# Requests go to 127.0.0.1 only; the loop is bounded by SAMPLES.
set -euo pipefail
SAMPLES=${1:-300}
ROWS=${2:-500000}
FILES=${3:-12}
WORK=${4:-$(mktemp -d)}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/cdr-rater
# The generated calls are spread over 2026-11-01..30: "now" at the end of it.
export CDR_RATER_NOW=2026-11-30T20:00:00Z
mkdir -p "$WORK"
[ -d "$WORK/rates" ] || $BIN generate deck --prefixes 60000 --customers 10000 --plans markup --out "$WORK/rates" >/dev/null
for i in $(seq 0 "$FILES"); do
  [ -f "$WORK/cdrs-$i.csv" ] || $BIN generate cdrs --rows "$ROWS" --seed $((100 + i)) --rates "$WORK/rates" --out "$WORK/cdrs-$i.csv"
done
rm -rf "$WORK/run" && mkdir -p "$WORK/run/spool/incoming" "$WORK/run/staging"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/run/cdr-rater.toml" <<EOF
rates = "$WORK/rates"
settle_ms = 200
[metrics]
listen = "127.0.0.1:$PORT"
EOF
cd "$WORK/run"
$BIN run --allow-root --config cdr-rater.toml 2>daemon.log &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.1; done
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" && /result="rated"/ {s+=$2} END {print s+0}'; }
drop() { cp "$WORK/cdrs-$1.csv" staging/ && mv "staging/cdrs-$1.csv" spool/incoming/; }

# Warm-up: one file gives every customer a month of IDS state.
drop 0
until [ "$(metric cdr_rater_files_total)" -ge 1 ]; do sleep 0.2; done
customers=$(curl -s "http://127.0.0.1:$PORT/api/ids" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["customers"]))')
echo "warm: $customers customers in the IDS state"

# Load: the other files at once; sample while they are being rated.
for i in $(seq 1 "$FILES"); do drop "$i"; done
sleep 1
rated_before=$(metric cdr_rater_files_total)
: >"$WORK/times-page" && : >"$WORK/times-api"
backlog() { curl -s "http://127.0.0.1:$PORT/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backlog_files"])'; }
# Only while files are being rated: stop early when the backlog is empty.
for n in $(seq 1 "$SAMPLES"); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/" >>"$WORK/times-page"
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/api/ids" >>"$WORK/times-api"
  if [ $((n % 10)) = 0 ] && [ "$(backlog)" = 0 ]; then break; fi
  sleep 0.05
done
rated_after=$(metric cdr_rater_files_total)
echo "files rated while sampling: $((rated_after - rated_before)); backlog at the end: $(backlog)"
stats() {
  sort -n "$1" | awk -v what="$2" '{a[NR]=$1} END {
    p50=a[int((NR+1)/2)]; i=int(NR*0.99+0.999); if (i>NR) i=NR; p99=a[i];
    printf "%-12s n=%d median=%.1f ms p99=%.1f ms max=%.1f ms\n", what, NR, p50*1000, p99*1000, a[NR]*1000 }'
}
stats "$WORK/times-page" "GET /"
stats "$WORK/times-api" "GET /api/ids"
size=$(curl -s "http://127.0.0.1:$PORT/api/ids" | wc -c)
echo "/api/ids answer: $size bytes"
