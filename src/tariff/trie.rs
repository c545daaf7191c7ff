//! A digit trie with longest-prefix match.
//!
//! Nodes live in one `Vec` and point at each other by index, so a lookup is
//! at most 15 array hops with no allocation, and the whole trie is a single
//! block of memory that is cheap to share behind an `Arc`.
//!
//! [`freeze`](PrefixTrie::freeze) repacks the nodes for lookups: 12 bytes
//! each instead of 44 (a 10-bit child mask, the index of the first child,
//! the value), in breadth-first order so that a node's children are
//! adjacent. A 60k-prefix deck walked with destinations spread over all of
//! it misses the caches at every deep level; the packed trie is a quarter
//! of the size, so more of it stays cached.

/// Index of "no node" / "no value".
const NONE: u32 = u32::MAX;

/// Most numbers [`PrefixTrie::longest_matches`] walks at once.
pub const MAX_WALKS: usize = 32;

/// `RANK[m]` = bits set in `m` (< 2^9): the position of a child among its
/// siblings, without relying on a `popcnt` instruction.
static RANK: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 512 {
        t[i] = (i as u32).count_ones() as u8;
        i += 1;
    }
    t
};

#[derive(Clone, Copy)]
struct Node {
    children: [u32; 10],
    value: u32,
}

const EMPTY_NODE: Node = Node { children: [NONE; 10], value: NONE };

/// A node of the frozen trie: its children are `first..first + n` where
/// `n` is the number of bits set in `mask` (bit `d` for digit `d`), in digit
/// order.
#[derive(Clone, Copy)]
struct Packed {
    mask: u32,
    first: u32,
    value: u32,
}

/// Maps digit strings to `u32` values (indexes into a side table).
///
/// Built with [`insert`](PrefixTrie::insert), then [`freeze`](PrefixTrie::freeze)
/// packs the nodes into huge-page memory for lookups.
#[derive(Clone)]
pub struct PrefixTrie {
    nodes: Vec<Node>,
    frozen: Option<super::hugemem::HugeSlice<Packed>>,
    /// Once frozen, the walk of every [`TOP_DIGITS`]-digit start, by its
    /// value as a number: the in-step walks begin there.
    top: Box<[Top]>,
    len: usize,
}

/// Digits of a number's start looked up in one step by the in-step walks.
const TOP_DIGITS: usize = 3;

/// Where the walk of a [`TOP_DIGITS`]-digit start ends.
#[derive(Clone, Copy)]
struct Top {
    /// The node reached after all its digits, if `live`.
    node: u32,
    /// The value of the longest prefix on the way (or `NONE`).
    best: u32,
    /// Whether the walk got through all its digits (else it ended there).
    live: bool,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie::new()
    }
}

impl PrefixTrie {
    /// An empty trie.
    pub fn new() -> Self {
        PrefixTrie { nodes: vec![EMPTY_NODE], frozen: None, top: Box::new([]), len: 0 }
    }

    /// Ends building: packs the nodes (breadth first, children adjacent)
    /// into huge-page memory. Further inserts are not allowed.
    pub fn freeze(&mut self) {
        if self.frozen.is_some() {
            return;
        }
        let nodes = std::mem::take(&mut self.nodes);
        // Breadth-first order: a node's children are pushed together, so
        // each node's children are adjacent in `order`.
        let mut order: Vec<u32> = Vec::with_capacity(nodes.len());
        let mut new_of = vec![NONE; nodes.len()];
        order.push(0);
        new_of[0] = 0;
        let mut i = 0;
        while i < order.len() {
            for &c in &nodes[order[i] as usize].children {
                if c != NONE {
                    new_of[c as usize] = order.len() as u32;
                    order.push(c);
                }
            }
            i += 1;
        }
        let packed: Vec<Packed> = order
            .iter()
            .map(|&old| {
                let n = &nodes[old as usize];
                let mut mask = 0u32;
                let mut first = NONE;
                for (d, &c) in n.children.iter().enumerate() {
                    if c != NONE {
                        mask |= 1 << d;
                        if first == NONE {
                            first = new_of[c as usize];
                        }
                    }
                }
                Packed { mask, first, value: n.value }
            })
            .collect();
        self.top = (0..10usize.pow(TOP_DIGITS as u32))
            .map(|start| {
                let mut top = Top { node: 0, best: packed[0].value, live: true };
                for k in (0..TOP_DIGITS).rev() {
                    let d = start / 10usize.pow(k as u32) % 10;
                    let node = packed[top.node as usize];
                    if node.mask & (1 << d) == 0 {
                        top.live = false;
                        break;
                    }
                    top.node = node.first + u32::from(RANK[(node.mask & ((1 << d) - 1)) as usize]);
                    let v = packed[top.node as usize].value;
                    if v != NONE {
                        top.best = v;
                    }
                }
                top
            })
            .collect();
        self.frozen = Some(super::hugemem::HugeSlice::new(packed));
    }

    /// Number of prefixes stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` under `prefix` (ASCII digits). Returns the value that
    /// was there before, if any (the caller decides whether that is an error).
    ///
    /// # Panics
    /// If `prefix` holds a non-digit or `value` is `u32::MAX`; loaders
    /// validate both first.
    pub fn insert(&mut self, prefix: &[u8], value: u32) -> Option<u32> {
        assert!(value != NONE, "reserved trie value");
        assert!(self.frozen.is_none(), "insert into a frozen trie");
        let mut at = 0usize;
        for &b in prefix {
            let d = digit(b).expect("trie keys are digits");
            let next = self.nodes[at].children[d];
            at = if next == NONE {
                let id = self.nodes.len() as u32;
                self.nodes.push(EMPTY_NODE);
                self.nodes[at].children[d] = id;
                id as usize
            } else {
                next as usize
            };
        }
        let old = std::mem::replace(&mut self.nodes[at].value, value);
        if old == NONE {
            self.len += 1;
            None
        } else {
            Some(old)
        }
    }

    /// The value of the longest stored prefix of `number`, with that prefix's length.
    #[inline]
    pub fn longest_match(&self, number: &[u8]) -> Option<(u32, usize)> {
        let Some(nodes) = &self.frozen else { return self.longest_match_building(number) };
        let nodes: &[Packed] = nodes;
        let mut at = 0usize;
        let mut best = None;
        let root = nodes[0].value;
        if root != NONE {
            best = Some((root, 0));
        }
        for (i, &b) in number.iter().enumerate() {
            let Some(d) = digit(b) else { break };
            let node = nodes[at];
            let bit = 1u32 << d;
            if node.mask & bit == 0 {
                break;
            }
            at = node.first as usize + usize::from(RANK[(node.mask & (bit - 1)) as usize]);
            let v = nodes[at].value;
            if v != NONE {
                best = Some((v, i + 1));
            }
        }
        best
    }

    /// [`longest_match`](PrefixTrie::longest_match) before [`freeze`](PrefixTrie::freeze).
    fn longest_match_building(&self, number: &[u8]) -> Option<(u32, usize)> {
        let nodes = &self.nodes;
        let mut best = None;
        let mut at = 0usize;
        let root = nodes[0].value;
        if root != NONE {
            best = Some((root, 0));
        }
        for (i, &b) in number.iter().enumerate() {
            let Some(d) = digit(b) else { break };
            let next = nodes[at].children[d];
            if next == NONE {
                break;
            }
            at = next as usize;
            let v = nodes[at].value;
            if v != NONE {
                best = Some((v, i + 1));
            }
        }
        best
    }

    /// The values of the longest stored prefixes of several numbers, each
    /// in its own trie: `out[i]` is `tries[i].longest_match(numbers[i])`'s
    /// value. The walks go one digit at a time in step, so the memory loads
    /// of different numbers (each a likely cache miss on a large deck) are in
    /// flight together instead of one after another.
    ///
    /// # Panics
    /// If the three slices differ in length or are longer than [`MAX_WALKS`].
    pub fn longest_matches(tries: &[&PrefixTrie], numbers: &[&[u8]], out: &mut [Option<u32>]) {
        let n = tries.len();
        assert!(n <= MAX_WALKS && numbers.len() == n && out.len() == n);
        let mut nodes: [&[Packed]; MAX_WALKS] = [&[]; MAX_WALKS];
        let mut at = [0u32; MAX_WALKS];
        let mut best = [NONE; MAX_WALKS];
        let mut live = [false; MAX_WALKS];
        let mut pos = [0usize; MAX_WALKS];
        for i in 0..n {
            let Some(f) = &tries[i].frozen else {
                out[i] = tries[i].longest_match_building(numbers[i]).map(|(v, _)| v);
                continue;
            };
            nodes[i] = f;
            let start = numbers[i]
                .get(..TOP_DIGITS)
                .and_then(|s| s.iter().try_fold(0usize, |acc, &b| digit(b).map(|d| acc * 10 + d)));
            match start.and_then(|s| tries[i].top.get(s)) {
                // The first digits in one step: where their walk ends.
                Some(top) => {
                    (at[i], best[i], live[i], pos[i]) = (top.node, top.best, top.live, TOP_DIGITS);
                }
                None => (best[i], live[i]) = (f[0].value, true),
            }
        }
        loop {
            let mut any = false;
            for i in 0..n {
                if !live[i] {
                    continue;
                }
                let digit = numbers[i].get(pos[i]).and_then(|&b| digit(b));
                let node = nodes[i][at[i] as usize];
                let bit = digit.map_or(0, |d| 1u32 << d);
                if node.mask & bit == 0 {
                    live[i] = false;
                    continue;
                }
                at[i] = node.first + u32::from(RANK[(node.mask & (bit - 1)) as usize]);
                let v = nodes[i][at[i] as usize].value;
                if v != NONE {
                    best[i] = v;
                }
                pos[i] += 1;
                any = true;
            }
            if !any {
                break;
            }
        }
        for i in 0..n {
            if tries[i].frozen.is_some() {
                out[i] = (best[i] != NONE).then_some(best[i]);
            }
        }
    }

    /// The value and children (digit, node) of node `n`, in either form.
    fn node(&self, n: usize) -> (u32, [Option<usize>; 10]) {
        let mut children = [None; 10];
        match &self.frozen {
            Some(f) => {
                let p = f[n];
                let mut next = p.first as usize;
                for (d, c) in children.iter_mut().enumerate() {
                    if p.mask & (1 << d) != 0 {
                        *c = Some(next);
                        next += 1;
                    }
                }
                (p.value, children)
            }
            None => {
                let node = &self.nodes[n];
                for (c, &id) in children.iter_mut().zip(&node.children) {
                    *c = (id != NONE).then_some(id as usize);
                }
                (node.value, children)
            }
        }
    }

    /// Values stored on the path of `prefix` (its own and shorter prefixes)
    /// and in the subtree below it: every value that a number starting with
    /// `prefix` can match.
    pub fn related(&self, prefix: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = 0usize;
        for &b in prefix {
            let (value, children) = self.node(at);
            if value != NONE {
                out.push(value);
            }
            let Some(d) = digit(b) else { return out };
            let Some(next) = children[d] else { return out };
            at = next;
        }
        let mut stack = vec![at];
        while let Some(n) = stack.pop() {
            let (value, children) = self.node(n);
            if value != NONE {
                out.push(value);
            }
            stack.extend(children.iter().flatten());
        }
        out
    }
}

#[inline]
fn digit(b: u8) -> Option<usize> {
    let d = b.wrapping_sub(b'0');
    (d < 10).then_some(d as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let mut t = PrefixTrie::new();
        assert_eq!(t.insert(b"31", 1), None);
        assert_eq!(t.insert(b"316", 2), None);
        assert_eq!(t.insert(b"3120", 3), None);
        assert_eq!(t.insert(b"316", 9), Some(2));
        assert_eq!(t.len(), 3);
        assert_eq!(t.longest_match(b"31612345678"), Some((9, 3)));
        assert_eq!(t.longest_match(b"31201234567"), Some((3, 4)));
        assert_eq!(t.longest_match(b"31101234567"), Some((1, 2)));
        assert_eq!(t.longest_match(b"3"), None);
        assert_eq!(t.longest_match(b"44"), None);
    }

    #[test]
    fn related_covers_path_and_subtree() {
        let mut t = PrefixTrie::new();
        for (i, p) in ["4", "44", "4420", "44207", "4421", "45"].iter().enumerate() {
            t.insert(p.as_bytes(), i as u32);
        }
        let mut r = t.related(b"4420");
        r.sort();
        assert_eq!(r, vec![0, 1, 2, 3]);
    }

    #[test]
    fn frozen_answers_as_built() {
        // A deterministic pseudo-random deck and numbers around it.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut t = PrefixTrie::new();
        for i in 0..3000u32 {
            let len = 1 + (next() % 9) as usize;
            let p: Vec<u8> = (0..len).map(|_| b'0' + (next() % 10) as u8).collect();
            t.insert(&p, i);
        }
        t.insert(b"", 7777);
        let numbers: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                let len = (next() % 16) as usize;
                (0..len).map(|_| if next() % 50 == 0 { b'x' } else { b'0' + (next() % 10) as u8 }).collect()
            })
            .collect();
        let built: Vec<_> = numbers.iter().map(|n| t.longest_match(n)).collect();
        let related: Vec<_> = numbers.iter().take(500).map(|n| t.related(&n[..n.len().min(3)])).collect();
        let mut frozen = t.clone();
        frozen.freeze();
        for (n, want) in numbers.iter().zip(&built) {
            assert_eq!(frozen.longest_match(n), *want, "{}", String::from_utf8_lossy(n));
        }
        for (n, want) in numbers.iter().zip(&related) {
            assert_eq!(&frozen.related(&n[..n.len().min(3)]), want);
        }
        assert_eq!(frozen.len(), t.len());
    }

    #[test]
    fn walks_in_step_answer_as_one_by_one() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut tries = [PrefixTrie::new(), PrefixTrie::new(), PrefixTrie::new()];
        for (k, t) in tries.iter_mut().enumerate() {
            for i in 0..2000u32 {
                let len = 1 + (next() % 8) as usize;
                let p: Vec<u8> = (0..len).map(|_| b'0' + (next() % 10) as u8).collect();
                t.insert(&p, i);
            }
            if k == 1 {
                t.insert(b"", 4242);
            }
        }
        let mut frozen = tries.clone();
        for t in &mut frozen[..2] {
            t.freeze();
        }
        for round in 0..2000 {
            let n = round % (MAX_WALKS + 1);
            let picks: Vec<&PrefixTrie> = (0..n).map(|_| &frozen[(next() % 3) as usize]).collect();
            let numbers: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let len = (next() % 14) as usize;
                    (0..len).map(|_| if next() % 40 == 0 { b'+' } else { b'0' + (next() % 10) as u8 }).collect()
                })
                .collect();
            let refs: Vec<&[u8]> = numbers.iter().map(|v| v.as_slice()).collect();
            let mut out = vec![Some(99); n];
            PrefixTrie::longest_matches(&picks, &refs, &mut out);
            for i in 0..n {
                assert_eq!(out[i], picks[i].longest_match(refs[i]).map(|(v, _)| v));
            }
        }
    }
}
