//! What changed between two versions of the wholesale deck, for `check`
//! (SPEC §3.5): prefixes new, removed, dearer and cheaper, and the largest
//! increases, so an operator loading next month's deck sees what got dearer
//! before it is in force.

use hashbrown::HashMap;
use rust_decimal::Decimal;

use super::Deck;

/// One prefix whose purchase rate rose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increase {
    /// The prefix.
    pub prefix: String,
    /// Its destination name in the newer deck.
    pub name: String,
    /// Rate per minute before and after.
    pub rate: (Decimal, Decimal),
}

/// Counts of changed prefixes between two decks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeckDiff {
    /// Prefixes only in the newer deck.
    pub new: usize,
    /// Prefixes only in the older deck.
    pub removed: usize,
    /// Prefixes whose rate (or, at the same rate, connect fee) rose.
    pub dearer: usize,
    /// Prefixes whose rate (or, at the same rate, connect fee) fell.
    pub cheaper: usize,
    /// The largest rate increases, largest first (at most `top`).
    pub increases: Vec<Increase>,
}

/// Compares `new` against `old`, keeping the `top` largest rate increases.
pub fn deck_diff(old: &Deck, new: &Deck, top: usize) -> DeckDiff {
    let before: HashMap<&str, &super::Destination> = old.destinations.iter().map(|d| (d.prefix.as_str(), d)).collect();
    let mut diff = DeckDiff::default();
    let mut increases = Vec::new();
    for d in &new.destinations {
        let Some(o) = before.get(d.prefix.as_str()) else {
            diff.new += 1;
            continue;
        };
        match (d.rate, d.connect_fee).cmp(&(o.rate, o.connect_fee)) {
            std::cmp::Ordering::Greater => diff.dearer += 1,
            std::cmp::Ordering::Less => diff.cheaper += 1,
            std::cmp::Ordering::Equal => {}
        }
        if d.rate > o.rate {
            increases.push(Increase { prefix: d.prefix.clone(), name: d.name.clone(), rate: (o.rate, d.rate) });
        }
    }
    let after: hashbrown::HashSet<&str> = new.destinations.iter().map(|d| d.prefix.as_str()).collect();
    diff.removed = old.destinations.iter().filter(|d| !after.contains(d.prefix.as_str())).count();
    increases.sort_by(|a, b| (b.rate.1 - b.rate.0).cmp(&(a.rate.1 - a.rate.0)).then_with(|| a.prefix.cmp(&b.prefix)));
    increases.truncate(top);
    diff.increases = increases;
    diff
}
