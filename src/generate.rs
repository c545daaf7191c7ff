//! Generated data for benchmarks and tests: realistic CDR traffic and large
//! wholesale decks. Deterministic for a seed.

use std::io::{self, Write};

use crate::tariff::{Kind, Tariff};

/// SplitMix64: small, fast, and good enough for synthetic traffic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn push_digits(out: &mut Vec<u8>, rng: &mut Rng, n: usize) {
    for _ in 0..n {
        out.push(b'0' + rng.below(10) as u8);
    }
}

/// How international destinations are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// Rank r of a seeded shuffle of the deck with probability about 1/r,
    /// as real traffic is skewed (the default).
    #[default]
    Zipf,
    /// Every international prefix of the deck equally likely: the worst
    /// case for the caches.
    Uniform,
}

/// The shape of generated traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// How international destinations are drawn.
    pub spread: Spread,
    /// Percentage (0–100) of calls that name their customer in the account
    /// column; the others leave it empty and call from a numbers.csv block
    /// (when the tables have none, every call has an account).
    pub with_account: u64,
    /// Days the start times spread over, from 2026-11-01 (at least 1).
    pub days: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape { spread: Spread::Zipf, with_account: 85, days: 30 }
    }
}

/// Billing usage of `month` for every customer of `tariff`, `calls` calls
/// in all (each customer about the same share): the three domestic lines
/// and 5-30 foreign countries per customer, 30-300 billed seconds a call,
/// 0.0100-0.5000 sell a call and buy at 70% of sell (4 decimals). Sorted by
/// customer; deterministic for a seed.
pub fn usage(tariff: &Tariff, month: crate::billing::Month, calls: u64, seed: u64) -> Vec<crate::billing::UsageDelta> {
    use crate::billing::{Category, Sums, UsageDelta};
    use rust_decimal::Decimal;
    const FOREIGN: [&[u8; 2]; 30] = [
        b"BE", b"DE", b"GB", b"FR", b"ES", b"IT", b"PL", b"TR", b"MA", b"SR", b"US", b"CN", b"IN", b"PT", b"AT", b"CH",
        b"SE", b"NO", b"DK", b"IE", b"GR", b"RO", b"BG", b"HU", b"CZ", b"UA", b"NG", b"BR", b"ID", b"XX",
    ];
    let mut rng = Rng::new(seed);
    let customers = tariff.customers.len().max(1) as u64;
    let mut out = Vec::new();
    for (i, c) in tariff.customers.iter().enumerate() {
        let share = calls / customers + u64::from((i as u64) < calls % customers);
        let foreign = 5 + rng.below(26) as usize;
        let mut lines: Vec<Category> = vec![Category::DomesticFixed, Category::DomesticMobile, Category::DomesticOther];
        let start = rng.below(FOREIGN.len() as u64) as usize;
        lines.extend((0..foreign).map(|k| Category::Foreign(*FOREIGN[(start + k) % FOREIGN.len()])));
        // Domestic lines take most calls; the rest is spread evenly.
        let mut left = share;
        for (k, category) in lines.iter().enumerate() {
            let n = if k + 1 == lines.len() {
                left
            } else if k < 3 {
                left / 3
            } else {
                left / (lines.len() - k) as u64
            };
            left -= n;
            if n == 0 {
                continue;
            }
            let per_call = 100 + rng.below(4_900);
            let sell = i128::from(n) * i128::from(per_call);
            out.push(UsageDelta {
                customer: c.id.clone(),
                origin: month,
                currency: tariff.currency_of(i as u32).to_string(),
                category: *category,
                sums: Sums {
                    calls: n as i64,
                    billed_s: (n * (30 + rng.below(271))) as i64,
                    sell: Decimal::from_i128_with_scale(sell, 4),
                    buy: Decimal::from_i128_with_scale(sell * 7 / 10, 4),
                },
            });
        }
    }
    out
}

/// Writes a generic-format CDR file of `rows` calls using the customers,
/// number blocks and destinations of `tariff`, in the default [`Shape`].
pub fn write_cdrs(tariff: &Tariff, rows: u64, seed: u64, out: &mut dyn Write) -> io::Result<()> {
    write_cdrs_shaped(tariff, rows, seed, Shape::default(), out)
}

/// Writes a generic-format CDR file of `rows` calls of the given `shape`.
/// The default shape gives the same bytes as before the shape existed.
pub fn write_cdrs_shaped(tariff: &Tariff, rows: u64, seed: u64, shape: Shape, out: &mut dyn Write) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    // International traffic is skewed like real traffic: a few destinations
    // take most calls. Rank r (in a seeded shuffle of the deck) is drawn
    // log-uniformly, i.e. with probability about 1/r (Zipf, s = 1).
    let latest = tariff.latest();
    let mut international: Vec<&str> = latest
        .deck
        .destinations
        .iter()
        .filter(|d| d.country != tariff.home_country && d.country != "XX")
        .map(|d| d.prefix.as_str())
        .collect();
    for i in (1..international.len()).rev() {
        international.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let zipf = |rng: &mut Rng, n: usize| -> usize {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    };
    let customers: Vec<&str> = tariff.customers.iter().map(|c| c.id.as_str()).collect();
    let mut w = io::BufWriter::with_capacity(1 << 20, out);
    w.write_all(b"call_id,start_time,account,caller,callee,billsec,disposition\n")?;
    let mut line = Vec::with_capacity(160);
    let day0 = crate::timefmt::days_from_civil(2026, 11, 1);
    for i in 0..rows {
        line.clear();
        line.extend_from_slice(b"c");
        line.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
        line.push(b',');
        // Calls spread over the shape's days (30 by default); a third with local times.
        let t = (day0 * 86_400) as u64 + i * shape.days.max(1) * 86_400 / rows.max(1) + rng.below(60);
        let (days, secs) = ((t / 86_400) as i64, t % 86_400);
        let (y, m, d) = crate::timefmt::civil_from_days(days);
        let local = rng.chance(33);
        let stamp = format!(
            "{y:04}-{m:02}-{d:02}{}{:02}:{:02}:{:02}{}",
            if local { ' ' } else { 'T' },
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            if local { "" } else { "Z" }
        );
        line.extend_from_slice(stamp.as_bytes());
        line.push(b',');
        let by_block = rng.chance(100 - shape.with_account.min(100)) && !latest.number_blocks().is_empty();
        if !by_block && !customers.is_empty() {
            line.extend_from_slice(customers[rng.below(customers.len() as u64) as usize].as_bytes());
        }
        line.push(b',');
        // Caller: from one of the customers' number blocks when the account
        // is empty (so numbers.csv finds the customer), else any Dutch number.
        if by_block {
            let blocks = latest.number_blocks();
            let (prefix, _) = &blocks[rng.below(blocks.len() as u64) as usize];
            line.push(b'+');
            line.extend_from_slice(prefix.as_bytes());
            push_digits(&mut line, &mut rng, 11usize.saturating_sub(prefix.len()));
        } else {
            line.extend_from_slice(b"+3120");
            push_digits(&mut line, &mut rng, 7);
        }
        line.push(b',');
        let roll = rng.below(100);
        match roll {
            0..=34 => {
                // Domestic fixed, national style with separators.
                let area = ["010", "020", "030", "040", "050", "070", "0172", "0299"][rng.below(8) as usize];
                line.extend_from_slice(area.as_bytes());
                if rng.chance(50) {
                    line.push(b'-');
                }
                push_digits(&mut line, &mut rng, 10 - area.len());
            }
            35..=59 => {
                // Domestic mobile.
                match rng.below(3) {
                    0 => line.extend_from_slice(b"06-"),
                    1 => line.extend_from_slice(b"+316"),
                    _ => line.extend_from_slice(b"00316"),
                }
                push_digits(&mut line, &mut rng, 8);
            }
            60..=89 if !international.is_empty() => {
                let p = match shape.spread {
                    Spread::Zipf => international[zipf(&mut rng, international.len())],
                    Spread::Uniform => international[rng.below(international.len() as u64) as usize],
                };
                line.extend_from_slice(if rng.chance(50) { b"00" } else { b"+" });
                line.extend_from_slice(p.as_bytes());
                push_digits(&mut line, &mut rng, 11usize.saturating_sub(p.len()).max(2));
            }
            90..=94 => {
                line.extend_from_slice(["0800", "0900", "0909", "0885", "085"][rng.below(5) as usize].as_bytes())
            }
            _ => line.extend_from_slice(["201", "2040", "*97", "105"][rng.below(4) as usize].as_bytes()),
        }
        // Service numbers get their digits too.
        if (90..=94).contains(&roll) {
            push_digits(&mut line, &mut rng, 7);
        }
        line.push(b',');
        let answered = !rng.chance(15);
        let long = rng.chance(10);
        let billsec = if answered { 1 + rng.below(if long { 3600 } else { 300 }) } else { 0 };
        line.extend_from_slice(itoa::Buffer::new().format(billsec).as_bytes());
        line.extend_from_slice(if answered { b",ANSWERED\n" } else { b",NO ANSWER\n" });
        w.write_all(&line)?;
    }
    w.flush()
}

/// Writes a wholesale deck of `prefixes` rows: the deck of `tariff`, plus
/// sub-prefixes of its rows (same country and kind, a slightly different
/// rate) until the count is reached.
pub fn write_deck(tariff: &Tariff, prefixes: usize, seed: u64, out: &mut dyn Write) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let destinations = &tariff.latest().deck.destinations;
    let mut seen: hashbrown::HashSet<String> = destinations.iter().map(|d| d.prefix.clone()).collect();
    let mut w = io::BufWriter::new(out);
    writeln!(w, "prefix,destination,country,kind,rate_per_min,connect_fee,increment")?;
    let row = |w: &mut io::BufWriter<&mut dyn Write>,
               p: &str,
               name: &str,
               c: &str,
               k: Kind,
               rate: &str,
               fee: &str,
               inc: &str| {
        let mut line = Vec::new();
        for (i, v) in [p, name, c, k.as_str(), rate, fee, inc].iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            crate::tariff::csv_field(&mut line, v.as_bytes());
        }
        line.push(b'\n');
        w.write_all(&line)
    };
    for d in destinations {
        row(
            &mut w,
            &d.prefix,
            &d.name,
            &d.country,
            d.kind,
            &d.rate.to_string(),
            &d.connect_fee.to_string(),
            &d.increment.to_string(),
        )?;
    }
    let base = destinations;
    let mut count = seen.len();
    let mut attempts = 0u64;
    while count < prefixes && !base.is_empty() && attempts < prefixes as u64 * 20 {
        attempts += 1;
        let d = &base[rng.below(base.len() as u64) as usize];
        let mut p = d.prefix.clone();
        for _ in 0..1 + rng.below(3) {
            p.push((b'0' + rng.below(10) as u8) as char);
        }
        if p.len() > 12 || !seen.insert(p.clone()) {
            continue;
        }
        let rate = d.rate * rust_decimal::Decimal::new(90 + rng.below(21) as i64, 2);
        let rate = rate.round_dp(6).normalize();
        row(
            &mut w,
            &p,
            &format!("{} {}", d.name, &p[d.prefix.len()..]),
            &d.country,
            d.kind,
            &rate.to_string(),
            &d.connect_fee.to_string(),
            &d.increment.to_string(),
        )?;
        count += 1;
    }
    w.flush()
}

/// The single plan of a generated rates folder with `--plans markup`: the
/// deck's rate × 130% plus a start fee, billed 60/6, at every level. Simple
/// enough to be priced again by a short SQL query (`benches/duckdb.sh`).
pub const MARKUP_PLAN: &str = "\
# Generated plan: wholesale + 30 % and a start fee at every level, billed 60 s then per 6 s.
currency = \"EUR\"
increment = \"60/6\"

[international]
start_fee = \"0.0150\"
markup = \"130%\"

[domestic]
start_fee = \"0.0150\"
markup = \"130%\"
";

/// Writes `customers.csv` with `customers` customers (ids `C00001`…, each
/// on one of `plans`, with an IDS range) and `numbers.csv` with one to three
/// number blocks per customer (`3185…`, Dutch VoIP numbers, 11 digits with
/// the subscriber part) and, for about one customer in twenty, a longer
/// block nested inside another customer's (the longest block wins).
pub fn write_customers(
    plans: &[String],
    customers: usize,
    seed: u64,
    customers_out: &mut dyn Write,
    numbers_out: &mut dyn Write,
) -> io::Result<()> {
    let mut rng = Rng::new(seed ^ 0xC057_0E25);
    let width = customers.to_string().len().max(5);
    let id = |i: usize| format!("C{i:0width$}");
    let mut c = io::BufWriter::new(customers_out);
    writeln!(c, "customer_id,name,email,plan,ids_range,timezone")?;
    let zones = ["", "", "", "Europe/Amsterdam", "Europe/Brussels"];
    for i in 1..=customers {
        let plan = if plans.is_empty() { "" } else { &plans[rng.below(plans.len() as u64) as usize] };
        let range = 10 + rng.below(491);
        let zone = zones[rng.below(zones.len() as u64) as usize];
        writeln!(c, "{},Customer {i} B.V.,billing@c{i}.example.nl,{plan},{range}.00,{zone}", id(i))?;
    }
    c.flush()?;
    // Blocks: 1–3 per customer, numbered sequentially after 3185.
    let mut blocks: Vec<(String, usize)> = Vec::new();
    for i in 1..=customers {
        for _ in 0..1 + rng.below(3) {
            blocks.push((String::new(), i));
        }
    }
    let bw = blocks.len().to_string().len().max(5);
    for (k, b) in blocks.iter_mut().enumerate() {
        b.0 = format!("3185{k:0bw$}");
    }
    let mut seen: hashbrown::HashSet<String> = blocks.iter().map(|b| b.0.clone()).collect();
    let parents = blocks.len();
    for _ in 0..customers / 20 {
        let parent = &blocks[rng.below(parents as u64) as usize].0;
        let nested = format!("{parent}{}", rng.below(10));
        if seen.insert(nested.clone()) {
            blocks.push((nested, 1 + rng.below(customers as u64) as usize));
        }
    }
    let mut n = io::BufWriter::new(numbers_out);
    writeln!(n, "prefix,customer_id")?;
    for (prefix, owner) in &blocks {
        writeln!(n, "{prefix},{}", id(*owner))?;
    }
    n.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::{Number, Numbering};
    use std::fs;
    use std::path::Path;

    /// A rates folder: the shipped deck grown to `prefixes`, the markup
    /// plan and `customers` generated customers.
    fn generated_tables(dir: &Path, prefixes: usize, customers: usize) -> Tariff {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rates");
        let (t, _) = crate::tariff::load(&shipped, "NL", &jiff::tz::TimeZone::UTC).unwrap();
        fs::create_dir_all(dir.join("plans")).unwrap();
        write_deck(&t, prefixes, 3, &mut fs::File::create(dir.join("wholesale.csv")).unwrap()).unwrap();
        fs::write(dir.join("plans/markup.toml"), MARKUP_PLAN).unwrap();
        write_customers(
            &["markup".to_string()],
            customers,
            3,
            &mut fs::File::create(dir.join("customers.csv")).unwrap(),
            &mut fs::File::create(dir.join("numbers.csv")).unwrap(),
        )
        .unwrap();
        crate::tariff::load(dir, "NL", &jiff::tz::TimeZone::UTC).unwrap().0
    }

    fn rows(t: &Tariff, n: u64, shape: Shape) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        write_cdrs_shaped(t, n, 9, shape, &mut out).unwrap();
        String::from_utf8(out).unwrap().lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
    }

    #[test]
    fn customers_are_generated_with_blocks_and_every_call_has_one() {
        let dir = tempfile::tempdir().unwrap();
        let t = generated_tables(dir.path(), 2_000, 1_000);
        assert_eq!(t.customers.len(), 1_000);
        let blocks = t.latest().number_blocks();
        assert!(blocks.len() >= 1_000, "{} blocks", blocks.len());
        // Every customer owns a block (the nested ones may belong to anyone).
        let mut owners: Vec<u32> = blocks.iter().map(|b| b.1).collect();
        owners.sort_unstable();
        owners.dedup();
        assert_eq!(owners.len(), 1_000);
        let plan = Numbering::default();
        for r in rows(&t, 20_000, Shape { spread: Spread::Uniform, with_account: 50, days: 30 }) {
            let found = if r[2].is_empty() {
                let caller = plan.normalise_caller(r[3].as_bytes()).expect("caller normalises");
                t.latest().customer_by_number(caller.as_bytes())
            } else {
                t.customer_by_id(r[2].as_bytes())
            };
            assert!(found.is_some(), "no customer for {r:?}");
        }
    }

    #[test]
    fn the_account_share_is_about_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let t = generated_tables(dir.path(), 1_000, 50);
        for pct in [0u64, 30, 85, 100] {
            let r = rows(&t, 20_000, Shape { spread: Spread::Zipf, with_account: pct, days: 30 });
            let with = r.iter().filter(|r| !r[2].is_empty()).count() as f64 / r.len() as f64 * 100.0;
            assert!((with - pct as f64).abs() < 1.5, "asked {pct}%, got {with:.2}%");
        }
    }

    #[test]
    fn uniform_spread_hits_far_more_destinations_than_zipf() {
        let dir = tempfile::tempdir().unwrap();
        let t = generated_tables(dir.path(), 20_000, 10);
        let plan = Numbering::default();
        let distinct = |spread| {
            let mut seen = hashbrown::HashSet::new();
            for r in rows(&t, 30_000, Shape { spread, with_account: 85, days: 30 }) {
                if let Ok(Number::E164(n)) = plan.normalise(r[4].as_bytes()) {
                    if let Some(d) = t.latest().deck.destination(n.as_bytes()) {
                        seen.insert(d);
                    }
                }
            }
            seen.len()
        };
        let (zipf, uniform) = (distinct(Spread::Zipf), distinct(Spread::Uniform));
        assert!(uniform > 2 * zipf, "uniform {uniform} vs zipf {zipf} distinct destinations");
    }

    #[test]
    fn the_default_shape_is_the_old_traffic() {
        let t =
            crate::tariff::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rates"), "NL", &jiff::tz::TimeZone::UTC)
                .unwrap()
                .0;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_cdrs(&t, 1_000, 5, &mut a).unwrap();
        write_cdrs_shaped(&t, 1_000, 5, Shape { spread: Spread::Zipf, with_account: 85, days: 30 }, &mut b).unwrap();
        assert_eq!(a, b);
    }
}
