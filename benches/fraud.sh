#!/usr/bin/env bash
# Daemon throughput with every fraud rule on (rates/fraud.toml and its
# high-risk list) against rules off (no fraud.toml), IDS on in both, on
# generated traffic with 10,000 customers.
#
#   benches/fraud.sh prepare WORK [FILES] [ROWS] [DAYS]
#       a 60k-prefix deck with 10,000 customers (rates-off/, and rates-on/
#       with the shipped fraud.toml and high-risk.csv), and two sets of
#       FILES (default 20) CDR files of ROWS (default 100000) calls, over
#       DAYS (default 1) days from 2026-11-01:
#       - cdrs/: one day's traffic cut into consecutive files, as a switch
#         drops them (each file the next stretch of time);
#       - overlap/: every file its own seed over the whole span, so every
#         file lands in every customer's windows (the rules' worst case:
#         each file merges into the whole day's state);
#   benches/fraud.sh run WORK on|off [cdrs|overlap]
#       one daemon on a fresh spool and state: every file of the set
#       (default cdrs) renamed into incoming/ at once, timed until the last
#       one is archived; prints "MODE SET: ROWS rows in S s = R rows/s,
#       daemon CPU C s" and appends it to WORK/results.
#
# "Now" is fixed to the end of the traffic's last day, so every call is on
# a day the rules judge (with DAYS up to 3). Compare with farm-bench (alternating runs, medians):
#   farm-bench -n 5 --timeout 900 --vs 'benches/fraud.sh run WORK off' -- benches/fraud.sh run WORK on
# BIN overrides the binary (default target/release/cdr-rater, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?prepare or run}
WORK=${2:?work folder}
BIN=${BIN:-target/release/cdr-rater}

if [ "$what" = prepare ]; then
  FILES=${3:-20}
  ROWS=${4:-100000}
  DAYS=${5:-1}
  cargo build --release --quiet
  rm -rf "$WORK/rates-off" "$WORK/rates-on" "$WORK/cdrs" "$WORK/overlap"
  mkdir -p "$WORK/cdrs" "$WORK/overlap"
  "$BIN" generate deck --prefixes 60000 --customers 10000 --rates rates --out "$WORK/rates-off" >/dev/null
  cp -a "$WORK/rates-off" "$WORK/rates-on"
  cp rates/fraud.toml rates/high-risk.csv "$WORK/rates-on/"
  "$BIN" generate cdrs --rows $((FILES * ROWS)) --seed 1 --days "$DAYS" --rates "$WORK/rates-off" --out "$WORK/all.csv"
  head -1 "$WORK/all.csv" >"$WORK/header.csv"
  tail -n +2 "$WORK/all.csv" | split -l "$ROWS" -d -a 3 - "$WORK/cdrs/part-"
  for f in "$WORK"/cdrs/part-*; do
    cat "$WORK/header.csv" "$f" >"$WORK/cdrs/f${f##*part-}.csv" && rm "$f"
  done
  rm "$WORK/all.csv" "$WORK/header.csv"
  for i in $(seq 1 "$FILES"); do
    "$BIN" generate cdrs --rows "$ROWS" --seed "$i" --days "$DAYS" --rates "$WORK/rates-off" \
      --out "$WORK/overlap/f$(printf %03d "$i").csv"
  done
  # "Now": the last second of the traffic's last day in Amsterdam (UTC+1 in November).
  date -u -d "2026-11-01 + $DAYS days - 3601 seconds" +%Y-%m-%dT%H:%M:%SZ >"$WORK/now"
  echo "$FILES files of $ROWS rows over $DAYS day(s) in $WORK/cdrs and $WORK/overlap; now $(cat "$WORK/now")"
  exit 0
fi

mode=${3:?on or off}
set_=${4:-cdrs}
pid=
run=$(mktemp -d "$WORK/run-XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$run"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$run/cdr-rater.toml" <<EOF
rates = "$(realpath "$WORK/rates-$mode")"
settle_ms = 100
[metrics]
listen = "127.0.0.1:$port"
EOF
mkdir -p "$run/spool/incoming" "$run/staging"
files=("$WORK"/"$set_"/*.csv)
for f in "${files[@]}"; do ln "$f" "$run/staging/" 2>/dev/null || cp "$f" "$run/staging/"; done
rows=$(($(cat "${files[@]}" | wc -l) - ${#files[@]}))
CDR_RATER_NOW=$(cat "$WORK/now") "$BIN" run --allow-root --config "$run/cdr-rater.toml" 2>"$run/daemon.log" &
pid=$!
until curl -sf "127.0.0.1:$port/metrics" >/dev/null; do sleep 0.02; done
start=$(date +%s.%N)
for f in "${files[@]}"; do mv "$run/staging/$(basename "$f")" "$run/spool/incoming/"; done
until [ "$(ls "$run/spool/archive" 2>/dev/null | wc -l)" -eq "${#files[@]}" ]; do sleep 0.01; done
end=$(date +%s.%N)
# The daemon's CPU (user + system) for the whole run, start-up included.
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat")
line=$(awk -v m="$mode $set_" -v r="$rows" -v a="$start" -v b="$end" -v c="$cpu" \
  'BEGIN { printf "%s: %d rows in %.3f s = %.0f rows/s, daemon CPU %.2f s\n", m, r, b - a, r / (b - a), c }')
echo "$line"
echo "$line" >>"$WORK/results"
