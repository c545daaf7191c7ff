#!/usr/bin/env bash
# `cdr-rater rate` against the same rating as a DuckDB query
# (benches/duckdb_rate.py), on a generated 60k-prefix deck with 10,000
# customers on one markup-only plan and a generic file of ROWS calls with
# destinations drawn uniformly over the deck. Runs the two alternately RUNS
# times each, checks they agree exactly (rows rated, unrated, rejected, buy
# and sell totals), and prints both medians (wall seconds) and their ratio.
#
#   benches/duckdb.sh [ROWS] [RUNS] [WORKDIR]
#
# Defaults: 200000 rows, 3 runs, target/duckdb-bench. The Python venv (with
# duckdb from PyPI), the tables and the CDR file are made once and kept in
# WORKDIR. The full shape: benches/duckdb.sh 5000000 3
set -euo pipefail
ROWS=${1:-200000}
RUNS=${2:-3}
cd "$(dirname "$0")/.."
WORK=${3:-target/duckdb-bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cargo build --release --quiet
BIN=$PWD/target/release/cdr-rater
SQL=$PWD/benches/duckdb_rate.py

if [ ! -x "$WORK/venv/bin/python" ] || ! "$WORK/venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet duckdb
fi
PY=$WORK/venv/bin/python
RATES=$WORK/rates60k-10kc
CDRS=$WORK/cdrs-uniform-$ROWS.csv
[ -d "$RATES" ] || "$BIN" generate deck --prefixes 60000 --customers 10000 --plans markup --out "$RATES"
[ -f "$CDRS" ] || "$BIN" generate cdrs --rows "$ROWS" --spread uniform --rates "$RATES" --out "$CDRS"
echo "input: $(wc -c <"$CDRS") bytes, $ROWS rows; deck $(($(wc -l <"$RATES/wholesale.csv") - 1)) prefixes, $(($(wc -l <"$RATES/customers.csv") - 1)) customers; duckdb $("$PY" -c 'import duckdb; print(duckdb.__version__)')"

# Wall seconds of a command, its stdout+stderr in $WORK/log.
timed() {
  local s e
  s=$(date +%s.%N)
  "$@" >"$WORK/log" 2>&1
  e=$(date +%s.%N)
  printf '%.3f\n' "$(echo "$e - $s" | bc)"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

r_times=()
d_times=()
for i in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/out-rate"
  t=$(timed "$BIN" rate --rates "$RATES" --out "$WORK/out-rate" "$CDRS")
  r_times+=("$t")
  # NAME: R rows, A rated, U unrated…, J rejected…; buy B sell S margin M EUR; …
  r_sum=$(sed -nE 's/^[^:]*: ([0-9]+) rows, ([0-9]+) rated[^,]*, ([0-9]+) unrated[^;]*, ([0-9]+) rejected.*; buy ([0-9.]+) sell ([0-9.]+) .*/rows \1 rated \2 unrated \3 rejected \4 buy \5 sell \6/p' "$WORK/log")
  rm -rf "$WORK/out-duckdb"
  t=$(timed "$PY" "$SQL" "$RATES" "$CDRS" "$WORK/out-duckdb")
  d_times+=("$t")
  d_sum=$(tail -1 "$WORK/log")
  echo "run $i: rate ${r_times[-1]} s, duckdb ${d_times[-1]} s"
  if [ "$r_sum" != "$d_sum" ]; then
    echo "MISMATCH: rate   $r_sum" >&2
    echo "          duckdb $d_sum" >&2
    exit 1
  fi
done
echo "totals (both): $r_sum"
rm_=$(printf '%s\n' "${r_times[@]}" | median)
dm=$(printf '%s\n' "${d_times[@]}" | median)
echo "median over $RUNS runs: cdr-rater rate $rm_ s, duckdb $dm s, duckdb/rate = $(echo "scale=2; $dm / $rm_" | bc)"
