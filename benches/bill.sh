#!/usr/bin/env bash
# `bill` for a month of 10,000 customers whose store holds 100 M calls.
#
#   benches/bill.sh prepare WORK [CALLS] [CUSTOMERS]
#       WORK/rates: a 1,000-prefix deck with CUSTOMERS (default 10000)
#       generated customers, each on the shipped `standard` service plan
#       with 2 SIP trunk channels (and every other one a block of 10
#       numbers); WORK/state: the store's usage for 2026-11 written
#       directly by `generate usage` (CALLS, default 100000000, calls over
#       the three domestic lines and 5-30 countries per customer: about
#       200,000 usage rows), as if rated from files of 100 customers each.
#       Rating 100 M calls first would take many minutes and measure the
#       rating, not the bill; the bill reads only the store's totals.
#   benches/bill.sh run WORK draft|close
#       one `bill --month 2026-11` (draft) or a `--close` on a copy of the
#       store (so it can be repeated); prints the wall time.
#
# Compare with farm-bench (alternating runs, medians), e.g.:
#   farm-bench -n 5 -- benches/bill.sh run WORK draft
# BIN overrides the binary (default target/release/cdr-rater, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?prepare or run}
WORK=${2:?work folder}
BIN=${BIN:-target/release/cdr-rater}
BIN=$(realpath "$BIN")
REPO=$(pwd)

case "$what" in
prepare)
  calls=${3:-100000000}
  customers=${4:-10000}
  [ -n "${BIN_BUILT:-}" ] || cargo build --release --quiet
  rm -rf "$WORK" && mkdir -p "$WORK"
  "$BIN" generate deck --prefixes 1000 --customers "$customers" --rates "$REPO/rates" --out "$WORK/rates"
  cp "$REPO/rates/services.csv" "$WORK/rates/"
  cp -r "$REPO/rates/service_plans" "$WORK/rates/"
  awk -F, 'NR == 1 { print $0 ",service_plan"; next } { print $0 ",standard" }' \
    "$WORK/rates/customers.csv" > "$WORK/rates/customers.tmp" && mv "$WORK/rates/customers.tmp" "$WORK/rates/customers.csv"
  awk -F, 'BEGIN { print "customer_id,service_id,quantity,start,end" }
           NR > 1 { print $1 ",SIP-TRUNK,2,2026-01-01,"; if (NR % 2) print $1 ",NUM-BLOCK10,1,2026-11-10," }' \
    "$WORK/rates/customers.csv" > "$WORK/rates/subscriptions.csv"
  printf 'rates = "rates"\nstate = "state"\nspool = "spool"\n[billing]\ninvoice_prefix = "INV-"\ncompany = "Bench Telecom B.V."\n' > "$WORK/cdr-rater.toml"
  "$BIN" check --rates "$WORK/rates" | tail -3
  "$BIN" generate usage --rates "$WORK/rates" --month 2026-11 --calls "$calls" --state "$WORK/state"
  ;;
run)
  mode=${3:-draft}
  cd "$WORK"
  case "$mode" in
  draft) args=() ;;
  close)
    rm -rf state-close billing/2026-11 && cp -r state state-close
    sed 's/^state = .*/state = "state-close"/' cdr-rater.toml > close.toml
    args=(--close --config close.toml) ;;
  *) echo "draft or close" >&2; exit 2 ;;
  esac
  start=$(date +%s.%N)
  "$BIN" bill --month 2026-11 "${args[@]}" 2> bill.log
  end=$(date +%s.%N)
  echo "bill $mode: $(sed -n "1s/^//p" bill.log), $(echo "$end - $start" | bc) s"
  ;;
*)
  echo "prepare or run" >&2
  exit 2
  ;;
esac
