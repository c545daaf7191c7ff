#!/usr/bin/env python3
"""The `cdr-rater rate` of a generic CDR file, as one DuckDB query.

    duckdb_rate.py RATES_DIR CDRS_CSV OUT_DIR

Exact money (integers of 10^-6 and 10^-10, never floats), the normalisation
of README "Rating rules" (separators ` -().` and `/` dropped, `+`, `00`,
national `0` -> `31`, callees of at most 5 digits internal), the customer
from the account or else the longest numbers.csv block prefixing the
normalised caller, the longest wholesale prefix of the normalised callee,
sell per plan. Plans must be markup-only (`generate deck --plans markup`):
`increment` and, in `[international]` and `[domestic]`, `markup` and
`start_fee`. Writes OUT_DIR/rated.csv and OUT_DIR/unrated.csv and prints
`rows R rated A unrated U rejected J buy B sell S` on stdout.

Left out, as they do not change the totals of generated traffic: start times
are neither parsed nor converted (written as given; only IDS, which `rate`
does not do here, and the flags use them), unrated rows carry the call id
instead of their line number, and only the rejections a generated file can
produce are checked (callee and billsec, not time or UTF-8).
"""
import os
import sys
import tomllib
from decimal import Decimal

import duckdb

HOME_COUNTRY, COUNTRY_CODE = "NL", "31"


def units(text, scale):
    """A decimal string as an exact integer of 10^-scale."""
    v = Decimal(text) * (Decimal(10) ** scale)
    assert v == v.to_integral_value(), text
    return int(v)


def plans(rates):
    rows = []
    for name in sorted(os.listdir(os.path.join(rates, "plans"))):
        if not name.endswith(".toml"):
            continue
        with open(os.path.join(rates, "plans", name), "rb") as f:
            p = tomllib.load(f)
        extra = set(p) - {"currency", "increment", "international", "domestic"}
        levels = {}
        for lv in ("international", "domestic"):
            keys = set(p.get(lv, {}))
            if not keys <= {"markup", "start_fee"} or "markup" not in keys or extra:
                sys.exit(f"{name}: only markup-only plans are supported here ({lv}: {sorted(keys)}, {sorted(extra)})")
            lvl = p[lv]
            # markup "130%" -> 13000 (10^-4); x rate (10^-6) = sell rate in 10^-10.
            levels[lv] = (units(lvl["markup"].rstrip("%"), 2), units(lvl.get("start_fee", "0"), 10))
        first, nxt = (int(x) for x in p.get("increment", "1/1").split("/"))
        rows.append((name[:-5], *levels["international"], *levels["domestic"], first, nxt, p.get("currency", "EUR")))
    return rows


def billed(b, first, nxt):
    return f"(CASE WHEN {b} = 0 THEN 0 WHEN {b} <= {first} THEN {first} ELSE {first} + (({b} - {first} + {nxt} - 1) // {nxt}) * {nxt} END)"


def normalised(col):
    """SQL: the digits of a number after separators are dropped, '+' kept."""
    return f"regexp_replace(trim({col}), '[ ().\\-/]', '', 'g')"


def e164(d):
    """SQL: a separator-free number (see `normalised`) to its E.164 digits."""
    return (
        f"CASE WHEN {d} LIKE '+%' THEN substr({d}, 2) WHEN {d} LIKE '00%' THEN substr({d}, 3) "
        f"WHEN {d} LIKE '0%' THEN '{COUNTRY_CODE}' || substr({d}, 2) ELSE {d} END"
    )


def money(u):
    return f"printf('%s%d.%04d', CASE WHEN ({u}) < 0 THEN '-' ELSE '' END, abs({u}) // 10000, abs({u}) % 10000)"


def main():
    rates, cdrs, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute(
        "CREATE TABLE plan (name VARCHAR, i_markup BIGINT, i_fee BIGINT, d_markup BIGINT, d_fee BIGINT, "
        "inc_first BIGINT, inc_next BIGINT, currency VARCHAR)"
    )
    con.executemany("INSERT INTO plan VALUES (?, ?, ?, ?, ?, ?, ?, ?)", plans(rates))
    q = lambda s: s.replace("'", "''")  # noqa: E731
    con.execute(f"""
CREATE TABLE deck AS SELECT prefix, destination, country, kind,
  (rate_per_min::DECIMAL(18,6) * 1000000)::BIGINT AS rate6,
  (coalesce(connect_fee, '0')::DECIMAL(18,6) * 1000000)::BIGINT AS fee6,
  coalesce(split_part(increment, '/', 1)::BIGINT, 1) AS inc_first,
  coalesce(split_part(increment, '/', 2)::BIGINT, 1) AS inc_next
FROM read_csv('{q(os.path.join(rates, "wholesale.csv"))}', header = true, all_varchar = true);
CREATE TABLE customer AS SELECT customer_id, plan FROM read_csv('{q(os.path.join(rates, "customers.csv"))}', header = true, all_varchar = true);
CREATE TABLE block AS SELECT prefix, customer_id FROM read_csv('{q(os.path.join(rates, "numbers.csv"))}', header = true, all_varchar = true);
CREATE TABLE call AS
WITH raw AS (
  SELECT call_id, start_time, coalesce(account, '') AS account, caller, callee, billsec,
         {normalised('callee')} AS cd, {normalised('caller')} AS rd
  FROM read_csv('{q(cdrs)}', header = true, all_varchar = true)
), n AS (
  SELECT *,
    CASE WHEN cd = '' THEN 'empty_callee'
         WHEN trim(callee) SIMILAR TO '[*#].*' THEN NULL
         WHEN NOT regexp_full_match(cd, '\\+?[0-9]+') THEN 'bad_callee'
         WHEN NOT regexp_full_match(coalesce(billsec, ''), '[0-9]{{1,9}}') THEN 'bad_billsec'
         WHEN billsec::BIGINT > 86400 THEN 'billsec_too_long' END AS reject,
    trim(callee) SIMILAR TO '[*#].*' OR (cd NOT LIKE '+%' AND length(cd) <= 5) AS internal,
    CASE WHEN regexp_full_match(rd, '\\+?[0-9]+') AND (rd LIKE '+%' OR length(rd) > 5) THEN {e164('rd')} END AS from_no
  FROM raw
)
SELECT *, CASE WHEN reject IS NULL AND NOT internal THEN {e164('cd')} END AS number,
       CASE WHEN reject IS NULL THEN billsec::BIGINT END AS bs
FROM n;
""")
    con.execute("""
UPDATE call SET reject = 'callee_too_long' WHERE reject IS NULL AND length(number) > 15;
""")
    con.execute(f"""
CREATE TABLE result AS
WITH dl AS (SELECT DISTINCT length(prefix) AS l FROM deck),
bl AS (SELECT DISTINCT length(prefix) AS l FROM block),
dest AS (
  SELECT c.call_id, arg_max(d.prefix, dl.l) AS prefix
  FROM call c JOIN dl ON dl.l <= length(c.number) JOIN deck d ON d.prefix = substr(c.number, 1, dl.l)
  WHERE c.number IS NOT NULL GROUP BY c.call_id
),
owner AS (
  SELECT c.call_id, arg_max(b.customer_id, bl.l) AS customer_id
  FROM call c JOIN bl ON bl.l <= length(c.from_no) JOIN block b ON b.prefix = substr(c.from_no, 1, bl.l)
  WHERE c.reject IS NULL AND c.account = '' AND c.from_no IS NOT NULL GROUP BY c.call_id
),
j AS (
  SELECT c.*, cu.customer_id AS cust, p.*, d.prefix AS dprefix, d.destination, d.country, d.kind,
         d.rate6, d.fee6, d.inc_first AS d_first, d.inc_next AS d_next
  FROM call c
  LEFT JOIN owner o ON o.call_id = c.call_id
  LEFT JOIN customer cu ON cu.customer_id = CASE WHEN c.account <> '' THEN c.account ELSE o.customer_id END
  LEFT JOIN plan p ON p.name = cu.plan
  LEFT JOIN dest x ON x.call_id = c.call_id
  LEFT JOIN deck d ON d.prefix = x.prefix
  WHERE c.reject IS NULL
)
SELECT *,
  CASE WHEN cust IS NULL THEN 'unknown_customer' WHEN NOT internal AND dprefix IS NULL THEN 'no_tariff' END AS reason,
  CASE WHEN internal THEN 0 ELSE {billed('bs', 'd_first', 'd_next')} END AS billed_b,
  CASE WHEN internal THEN 0 ELSE {billed('bs', 'inc_first', 'inc_next')} END AS billed_s
FROM j;
ALTER TABLE result ADD COLUMN buy4 HUGEINT;
ALTER TABLE result ADD COLUMN sell4 HUGEINT;
UPDATE result SET
  buy4 = CASE WHEN billed_b = 0 THEN 0 ELSE (fee6::HUGEINT * 60 + rate6::HUGEINT * billed_b + 3000) // 6000 END,
  sell4 = CASE WHEN billed_s = 0 THEN 0 ELSE
    ((CASE WHEN country = '{HOME_COUNTRY}' THEN d_fee ELSE i_fee END)::HUGEINT * 60
     + rate6::HUGEINT * (CASE WHEN country = '{HOME_COUNTRY}' THEN d_markup ELSE i_markup END) * billed_s
     + 30000000) // 60000000 END
WHERE reason IS NULL;
""")
    con.execute(f"""
COPY (SELECT call_id, start_time, cust AS customer_id, name AS plan, caller, callee,
        CASE WHEN internal THEN '' ELSE number END AS number, coalesce(dprefix, '') AS prefix,
        CASE WHEN internal THEN 'Internal' ELSE destination END AS destination, coalesce(country, '') AS country,
        CASE WHEN internal THEN 'internal' ELSE kind END AS kind, bs AS billsec,
        CASE WHEN internal THEN 0 ELSE billed_s END AS billed_s,
        {money('buy4')} AS buy, {money('sell4')} AS sell, {money('sell4 - buy4')} AS margin, currency
      FROM result WHERE reason IS NULL) TO '{q(os.path.join(out, "rated.csv"))}' (HEADER);
COPY (SELECT reason, call_id, start_time, account, caller, callee, billsec FROM result WHERE reason IS NOT NULL
      UNION ALL SELECT reject, call_id, start_time, account, caller, callee, billsec FROM call WHERE reject IS NOT NULL)
  TO '{q(os.path.join(out, "unrated.csv"))}' (HEADER);
""")
    rows, rated, unrated, buy, sell = con.execute(
        "SELECT (SELECT count(*) FROM call), count(*) FILTER (reason IS NULL), count(*) FILTER (reason IS NOT NULL), "
        "sum(buy4) FILTER (reason IS NULL), sum(sell4) FILTER (reason IS NULL) FROM result"
    ).fetchone()
    rejected = con.execute("SELECT count(*) FROM call WHERE reject IS NOT NULL").fetchone()[0]
    fmt = lambda u: f"{(u or 0) // 10000}.{(u or 0) % 10000:04d}"  # noqa: E731
    print(f"rows {rows} rated {rated} unrated {unrated} rejected {rejected} buy {fmt(buy)} sell {fmt(sell)}")


if __name__ == "__main__":
    main()
