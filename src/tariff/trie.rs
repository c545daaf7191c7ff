//! A digit trie with longest-prefix match.
//!
//! Nodes live in one `Vec` and point at each other by index, so a lookup is
//! at most 15 array hops with no allocation, and the whole trie is a single
//! block of memory that is cheap to share behind an `Arc`.

/// Index of "no node" / "no value".
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Node {
    children: [u32; 10],
    value: u32,
}

const EMPTY_NODE: Node = Node { children: [NONE; 10], value: NONE };

/// Maps digit strings to `u32` values (indexes into a side table).
///
/// Built with [`insert`](PrefixTrie::insert), then [`freeze`](PrefixTrie::freeze)
/// moves the nodes into huge-page memory for lookups.
#[derive(Clone)]
pub struct PrefixTrie {
    nodes: Vec<Node>,
    frozen: Option<super::hugemem::HugeSlice<Node>>,
    len: usize,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie::new()
    }
}

impl PrefixTrie {
    /// An empty trie.
    pub fn new() -> Self {
        PrefixTrie { nodes: vec![EMPTY_NODE], frozen: None, len: 0 }
    }

    /// Ends building: moves the nodes to huge-page memory. Further inserts
    /// are not allowed.
    pub fn freeze(&mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        self.frozen = Some(super::hugemem::HugeSlice::new(nodes));
    }

    #[inline]
    fn nodes(&self) -> &[Node] {
        match &self.frozen {
            Some(f) => f,
            None => &self.nodes,
        }
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
        let nodes = self.nodes();
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

    /// Values stored on the path of `prefix` (its own and shorter prefixes)
    /// and in the subtree below it: every value that a number starting with
    /// `prefix` can match.
    pub fn related(&self, prefix: &[u8]) -> Vec<u32> {
        let nodes = self.nodes();
        let mut out = Vec::new();
        let mut at = 0usize;
        for &b in prefix {
            if nodes[at].value != NONE {
                out.push(nodes[at].value);
            }
            let Some(d) = digit(b) else { return out };
            let next = nodes[at].children[d];
            if next == NONE {
                return out;
            }
            at = next as usize;
        }
        let mut stack = vec![at];
        while let Some(n) = stack.pop() {
            let node = &nodes[n];
            if node.value != NONE {
                out.push(node.value);
            }
            stack.extend(node.children.iter().filter(|&&c| c != NONE).map(|&c| c as usize));
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
}
