//! Customer ids to customer indexes, for the per-row lookup.
//!
//! An open-addressing table whose 32-byte slots hold the id itself (up to
//! [`INLINE`] bytes, zero-padded) and its index: a lookup hashes three
//! words, and compares three words and a length in one cache line, with no
//! pointer to follow to a key on the heap and no `memcmp` call. Ids longer
//! than [`INLINE`] bytes (rare) are looked up in the general map kept beside.

use hashbrown::HashMap;

/// Longest id kept in a slot.
const INLINE: usize = 24;
/// `len` of a free slot.
const FREE: u32 = u32::MAX;

#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    key: [u64; 3],
    len: u32,
    value: u32,
}

const EMPTY: Slot = Slot { key: [0; 3], len: FREE, value: 0 };

/// Ids to indexes: the inline table, and the map for ids too long for it.
#[derive(Clone)]
pub struct IdIndex {
    slots: Box<[Slot]>,
    /// `slots.len() - 1` (a power of two minus one).
    mask: usize,
    /// Whether some id is longer than [`INLINE`] (then `long` has it).
    has_long: bool,
    long: HashMap<Box<[u8]>, u32>,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex { slots: vec![EMPTY].into_boxed_slice(), mask: 0, has_long: false, long: HashMap::new() }
    }
}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} slots)", self.slots.len())
    }
}

/// `id` zero-padded into three words, if it fits.
#[inline]
fn words(id: &[u8]) -> Option<[u64; 3]> {
    if id.len() > INLINE {
        return None;
    }
    let mut b = [0u8; INLINE];
    b[..id.len()].copy_from_slice(id);
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("eight bytes"));
    Some([w(0), w(1), w(2)])
}

#[inline]
fn hash(k: &[u64; 3], len: usize) -> u64 {
    let h = (k[0] ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ k[1].wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ k[2].wrapping_mul(0x1656_67b1_9e37_79f9);
    let h = h ^ (h >> 29);
    h.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
}

impl IdIndex {
    /// The index of every `(id, index)`; ids are distinct.
    pub fn new<'a>(ids: impl IntoIterator<Item = (&'a [u8], u32)>) -> Self {
        let ids: Vec<(&[u8], u32)> = ids.into_iter().collect();
        // At most two thirds full: probes stay short.
        let cap = (ids.len() * 3 / 2 + 1).next_power_of_two();
        let mut index = IdIndex {
            slots: vec![EMPTY; cap].into_boxed_slice(),
            mask: cap - 1,
            has_long: false,
            long: HashMap::new(),
        };
        for (id, value) in ids {
            match words(id) {
                Some(key) => {
                    let mut at = hash(&key, id.len()) as usize & index.mask;
                    while index.slots[at].len != FREE {
                        at = (at + 1) & index.mask;
                    }
                    index.slots[at] = Slot { key, len: id.len() as u32, value };
                }
                None => {
                    index.has_long = true;
                    index.long.insert(id.into(), value);
                }
            }
        }
        index
    }

    /// Brings the slot where `id`'s lookup starts into the cache.
    #[inline]
    pub fn prefetch(&self, id: &[u8]) {
        if let Some(key) = words(id) {
            super::hugemem::prefetch(&self.slots[hash(&key, id.len()) as usize & self.mask]);
        }
    }

    /// The index of `id`.
    #[inline]
    pub fn get(&self, id: &[u8]) -> Option<u32> {
        let Some(key) = words(id) else {
            return if self.has_long { self.long.get(id).copied() } else { None };
        };
        let len = id.len() as u32;
        let mut at = hash(&key, id.len()) as usize & self.mask;
        loop {
            let s = &self.slots[at];
            if s.len == len && s.key == key {
                return Some(s.value);
            }
            if s.len == FREE {
                return None;
            }
            at = (at + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_id_and_only_them() {
        let mut ids: Vec<Vec<u8>> = (0..5000).map(|i| format!("C{i:05}").into_bytes()).collect();
        ids.push(b"".to_vec());
        ids.push(b"a-very-long-customer-identifier-0001".to_vec());
        ids.push(vec![0u8; 3]);
        ids.push(b"exactly-24-bytes-long-id".to_vec());
        let index = IdIndex::new(ids.iter().enumerate().map(|(i, id)| (id.as_slice(), i as u32)));
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id), Some(i as u32), "{}", String::from_utf8_lossy(id));
        }
        for miss in [&b"C5000"[..], b"C0000", b"C00001 ", b"\0\0", b"\0\0\0\0", b"a-very-long-customer-identifier-0002"]
        {
            assert_eq!(index.get(miss), None);
        }
        assert_eq!(IdIndex::default().get(b"C1"), None);
        assert_eq!(IdIndex::new([]).get(b""), None);
    }
}
