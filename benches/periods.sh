#!/usr/bin/env bash
# Tables in time against plain tables: the e2e deck and CDR file of
# benches/e2e.sh, and a copy of its tables where every plan has three periods
# (holiday, weekend, offpeak 19:00-08:00 with sub-tables at two levels) and a
# second deck version from 2026-11-16 (the file spans November 2026). Rates
# the file with both, alternating, RUNS times each; prints the medians.
#
#   benches/periods.sh [ROWS] [RUNS] [WORKDIR]
set -euo pipefail
ROWS=${1:-5000000}
RUNS=${2:-5}
WORK=${3:-$(mktemp -d)}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=$PWD/target/release/cdr-rater
mkdir -p "$WORK"
[ -d "$WORK/rates60k" ] || $BIN generate deck --prefixes 60000 --rates rates --out "$WORK/rates60k"
[ -f "$WORK/cdrs.csv" ] || $BIN generate cdrs --rows "$ROWS" --rates "$WORK/rates60k" --out "$WORK/cdrs.csv"
P="$WORK/rates60k-periods"
rm -rf "$P" && cp -r "$WORK/rates60k" "$P"
for plan in "$P"/plans/*.toml; do
  cat >>"$plan" <<'TOML'

[[period]]
name = "holiday"
dates = ["2026-11-11"]
[[period]]
name = "weekend"
days = ["sat", "sun"]
[[period]]
name = "offpeak"
days = ["mon", "tue", "wed", "thu", "fri"]
from = "19:00"
until = "08:00"
[domestic.offpeak]
fixed_per_min = "0.0100"
[domestic.weekend]
per_min = "0.0150"
[international.weekend]
markup = "115%"
[international.offpeak]
markup = "120%"
TOML
done
# The second version: every rate 0.0x becomes 0.1x (dearer), from the 16th.
sed 's/,0\.0/,0.1/' "$P/wholesale.csv" >"$P/wholesale@2026-11-16.csv"
$BIN check --rates "$P" | grep -E 'ok|against'
run() { # tables -> seconds
  rm -rf "$WORK/out"
  local t0 t1
  t0=$(date +%s.%N)
  $BIN rate --rates "$1" --out "$WORK/out" "$WORK/cdrs.csv" 2>/dev/null
  t1=$(date +%s.%N)
  awk "BEGIN { print $t1 - $t0 }"
}
plain=(); periods=()
for _ in $(seq 1 "$RUNS"); do
  plain+=("$(run "$WORK/rates60k")")
  periods+=("$(run "$P")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mp=$(median "${plain[@]}"); mq=$(median "${periods[@]}")
echo "plain:   median ${mp} s"
echo "periods: median ${mq} s ($(awk "BEGIN { printf \"%.1f\", 100 * $mp / $mq }")% of plain throughput)"
