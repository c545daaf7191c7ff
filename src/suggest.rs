//! "Did you mean": close matches of a mistyped name, for error messages.

/// Edit distance between `a` and `b` counting insertions, deletions,
/// substitutions and swaps of two neighbours as one edit each (optimal
/// string alignment), over characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), one back, current.
    let mut back2 = vec![0usize; b.len() + 1];
    let mut back1: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (back1[j] + 1).min(row[j - 1] + 1).min(back1[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(back2[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut back2, &mut back1);
        std::mem::swap(&mut back1, &mut row);
    }
    back1[b.len()]
}

/// Whether `candidate` is close enough to `word` to be what was meant: at
/// most one edit for short names, a third of the length for longer ones,
/// ignoring case.
fn close(word: &str, candidate: &str) -> Option<usize> {
    let d = distance(&word.to_lowercase(), &candidate.to_lowercase());
    let limit = (word.chars().count().max(candidate.chars().count()) / 3).max(1);
    (d <= limit).then_some(d)
}

/// The closest candidate to `word`, if one is close (ties: the first given).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if let Some(d) = close(word, c) {
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, c));
            }
        }
    }
    best.map(|b| b.1)
}

/// `candidates` sorted for a message: the closest match to `word` first
/// (when one is close), then the others in their given order.
pub fn ranked<'a>(word: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let best = closest(word, candidates.iter().copied());
    best.into_iter().chain(candidates.iter().copied().filter(|c| Some(*c) != best)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("budget", "budget"), 0);
        assert_eq!(distance("bugdet", "budget"), 1, "a swap is one edit");
        assert_eq!(distance("standrd", "standard"), 1);
        assert_eq!(distance("business", "budget"), 5);
    }

    #[test]
    fn closest_first_then_the_rest() {
        let plans = ["budget", "business", "standard"];
        assert_eq!(ranked("bugdet", &plans), ["budget", "business", "standard"]);
        assert_eq!(ranked("standart", &plans), ["standard", "budget", "business"]);
        assert_eq!(ranked("premium", &plans), ["budget", "business", "standard"]);
        assert_eq!(closest("C0O01", ["C0001", "C0002"]), Some("C0001"));
        assert_eq!(closest("xyz", ["budget"]), None);
        assert_eq!(closest("BUDGET", ["budget"]), Some("budget"));
    }
}
