#!/usr/bin/env bash
# End-to-end benchmark of `cdr-rater rate`: a generated 60k-prefix deck and a
# generated 5M-row generic file, rated RUNS times with all three outputs
# written and fsynced. Prints each run, the median rows/s, and the peak
# anonymous memory (RssAnon: heap and stacks; the mapped input is excluded).
#
#   benches/e2e.sh [ROWS] [RUNS] [WORKDIR]
set -euo pipefail
ROWS=${1:-5000000}
RUNS=${2:-5}
WORK=${3:-$(mktemp -d)}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/cdr-rater
mkdir -p "$WORK"
[ -d "$WORK/rates60k" ] || $BIN generate deck --prefixes 60000 --out "$WORK/rates60k"
[ -f "$WORK/cdrs.csv" ] || $BIN generate cdrs --rows "$ROWS" --rates "$WORK/rates60k" --out "$WORK/cdrs.csv"
echo "input: $(wc -c <"$WORK/cdrs.csv") bytes, $ROWS rows, deck $(($(wc -l <"$WORK/rates60k/wholesale.csv") - 1)) prefixes"
rates=()
for i in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/out"
  "$BIN" rate --rates "$WORK/rates60k" --out "$WORK/out" "$WORK/cdrs.csv" 2>"$WORK/log"
  r=$(grep -o '[0-9]* rows/s' "$WORK/log" | head -1 | cut -d' ' -f1)
  rates+=("$r")
  echo "run $i: $r rows/s"
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median: $median rows/s over $RUNS runs"

# One more run, sampled every 20 ms for its peak anonymous memory (the
# sampling costs CPU, so this run's speed is not counted).
rm -rf "$WORK/out"
"$BIN" rate --rates "$WORK/rates60k" --out "$WORK/out" "$WORK/cdrs.csv" 2>"$WORK/log" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  while read -r key value _; do
    if [ "$key" = "RssAnon:" ] && [ "$value" -gt "$peak" ]; then peak=$value; fi
  done <"/proc/$pid/status" 2>/dev/null || true
  read -r -t 0.02 <> <(:) || true
done
wait "$pid"
echo "peak RssAnon: $((peak / 1024)) MiB"
