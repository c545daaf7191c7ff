//! IDS judgement: how far a day's spend is above its baseline, which level
//! that is, and which calls crossed a level (compared exactly, as fractions).

use super::{Baseline, MAX_LEVEL};

/// The extra above the baseline at which level `k` fires: `range x 2^(k-1)`.
pub fn level_extra(range: i64, level: u32) -> i128 {
    i128::from(range) << (level - 1)
}

/// The highest level `spend` has crossed (0 = none). With a range of 0 only
/// level 1 exists.
pub fn level_reached(spend: i64, base: Baseline, range: i64) -> u32 {
    let max = if range == 0 { 1 } else { MAX_LEVEL };
    (1..=max).take_while(|&k| base.exceeded_by(spend, level_extra(range, k))).last().unwrap_or(0)
}

/// A level newly crossed by a call of an ordered list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    /// The level.
    pub level: u32,
    /// Index of the call that crossed it.
    pub call: usize,
    /// Spend of the day right after that call.
    pub spend: i64,
    /// Calls of the day up to and including that call.
    pub calls: u64,
}

/// Walks a day's new calls in order (their sells), from `spend` and `calls`
/// before them, and reports each level above `fired` the first time it is
/// crossed.
pub fn crossings(spend: i64, calls: u64, sells: &[i64], base: Baseline, range: i64, fired: u32) -> Vec<Crossing> {
    let mut out = Vec::new();
    let mut level = fired;
    let (mut s, mut c) = (spend, calls);
    for (i, &sell) in sells.iter().enumerate() {
        s += sell;
        c += 1;
        let reached = level_reached(s, base, range);
        while level < reached {
            level += 1;
            out.push(Crossing { level, call: i, spend: s, calls: c });
        }
    }
    out
}
