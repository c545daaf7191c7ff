//! Read-only tables in memory backed by transparent huge pages.
//!
//! Rating is a random walk over the prefix trie and the destination tables:
//! with a 60k-prefix deck those are megabytes, and with 4 KiB pages nearly
//! every lookup also misses the TLB. Copying a finished table into an
//! anonymous mapping advised `MADV_HUGEPAGE` removes most of that cost (see
//! README.md, "Performance"). Where huge pages are unavailable the advice is
//! ignored and the table lives in ordinary pages.

use std::ops::Deref;

/// An immutable slice of `T`, in a huge-page-advised mapping when large.
pub struct HugeSlice<T: Copy + 'static> {
    storage: Storage<T>,
}

enum Storage<T> {
    Heap(Box<[T]>),
    Mapped { map: memmap2::MmapMut, len: usize },
}

/// Tables smaller than this stay on the heap (they fit the caches anyway).
const MIN_BYTES: usize = 1 << 20;
/// Size of a transparent huge page on x86_64 and aarch64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

impl<T: Copy + 'static> HugeSlice<T> {
    /// Moves `items` into a new mapping (or keeps them on the heap when
    /// small or when the mapping fails).
    pub fn new(items: Vec<T>) -> Self {
        let bytes = std::mem::size_of_val(items.as_slice());
        if bytes < MIN_BYTES || std::mem::align_of::<T>() > 4096 {
            return HugeSlice { storage: Storage::Heap(items.into_boxed_slice()) };
        }
        // A length in whole huge pages lets the kernel align the mapping to one.
        let mapped = bytes.next_multiple_of(HUGE_PAGE);
        let Ok(mut map) = memmap2::MmapOptions::new().len(mapped).map_anon() else {
            return HugeSlice { storage: Storage::Heap(items.into_boxed_slice()) };
        };
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        // SAFETY: the mapping is at least `bytes` long, page-aligned (so aligned for
        // `T`, checked above) and does not overlap `items`. `T: Copy`, so a
        // bitwise copy is a valid `T` and `items` needs no drop glue run.
        unsafe {
            std::ptr::copy_nonoverlapping(items.as_ptr().cast::<u8>(), map.as_mut_ptr(), bytes);
        }
        HugeSlice { storage: Storage::Mapped { map, len: items.len() } }
    }
}

/// Asks the processor to bring `item`'s cache line in ahead of its use. A
/// hint only: it changes no result.
#[inline(always)]
pub(super) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and reads nothing
    // architecturally; the address is that of a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

impl<T: Copy + 'static> Deref for HugeSlice<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        match &self.storage {
            Storage::Heap(b) => b,
            // SAFETY: the mapping holds `len` initialised `T`s written in
            // `new`, is aligned for `T`, lives as long as `self` and is never
            // written again.
            Storage::Mapped { map, len } => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<T>(), *len) },
        }
    }
}

impl<T: Copy + 'static> Clone for HugeSlice<T> {
    fn clone(&self) -> Self {
        HugeSlice::new(self.to_vec())
    }
}

impl<T: Copy + std::fmt::Debug + 'static> std::fmt::Debug for HugeSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HugeSlice(len {})", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_tables_read_back() {
        let small = HugeSlice::new(vec![1u32, 2, 3]);
        assert_eq!(&*small, &[1, 2, 3]);
        let big: Vec<u64> = (0..1_000_000).collect();
        let huge = HugeSlice::new(big.clone());
        assert_eq!(&*huge, big.as_slice());
        assert_eq!(&*huge.clone(), big.as_slice());
    }
}
