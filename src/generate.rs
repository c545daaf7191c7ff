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

/// Writes a generic-format CDR file of `rows` calls using the customers,
/// number blocks and destinations of `tariff`.
pub fn write_cdrs(tariff: &Tariff, rows: u64, seed: u64, out: &mut dyn Write) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    // International traffic is skewed like real traffic: a few destinations
    // take most calls. Rank r (in a seeded shuffle of the deck) is drawn
    // log-uniformly, i.e. with probability about 1/r (Zipf, s = 1).
    let mut international: Vec<&str> = tariff
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
        // Calls spread over 30 days; a third with local times.
        let t = (day0 * 86_400) as u64 + i * 30 * 86_400 / rows.max(1) + rng.below(60);
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
        let by_block = rng.chance(15) && tariff.number_block_count() > 0;
        if !by_block && !customers.is_empty() {
            line.extend_from_slice(customers[rng.below(customers.len() as u64) as usize].as_bytes());
        }
        line.push(b',');
        // Caller: from one of the customers' number blocks when the account
        // is empty (so numbers.csv finds the customer), else any Dutch number.
        if by_block {
            let (prefix, _) = &tariff.number_blocks[rng.below(tariff.number_blocks.len() as u64) as usize];
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
                let p = international[zipf(&mut rng, international.len())];
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
    let mut seen: hashbrown::HashSet<String> = tariff.destinations.iter().map(|d| d.prefix.clone()).collect();
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
    for d in &tariff.destinations {
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
    let base = &tariff.destinations;
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
