//! The SIMD paths of [`Scanner::next_record`](super::Scanner::next_record):
//! the record rule 16 bytes at a time with SSE2 (part of the x86_64
//! baseline, so no run-time detection). On other targets both return
//! `None` and the scanner takes its byte loop. A property test in
//! `super` and the `csv_scan` fuzz target check that every path gives the
//! same records and fields.

use super::{Fields, MAX_FIELDS};

/// Closes the field that ends at the delimiter at `at`: its span is kept
/// while there is room, and the next field starts after the delimiter.
#[inline(always)]
fn end_field(fields: &mut Fields, count: &mut usize, field_start: &mut usize, at: usize) {
    if *count < MAX_FIELDS {
        fields.spans[*count] = (*field_start as u32, at as u32);
    }
    *count += 1;
    *field_start = at + 1;
}

/// What [`scan_quoted`] found.
pub(super) struct Scan {
    /// End of the record (its `\n`, or the end of the buffer).
    pub(super) end: usize,
    /// Start of the next record.
    pub(super) next: usize,
    /// Fields before the last.
    pub(super) count: usize,
    /// Start of the last field.
    pub(super) field_start: usize,
    /// `\n`s inside quotes.
    pub(super) newlines: u64,
    /// A `"` in the record.
    pub(super) saw_quote: bool,
    /// `\r`s in the record.
    pub(super) crs: usize,
}

/// [`Scanner::next_record`](super::Scanner::next_record)'s rule 16 bytes at a time, quotes included: the
/// quote state of every byte is the running parity of the `"`s before it
/// (prefix XOR of the quote mask, carried from block to block). `None` when
/// the record reaches past `limit` (the general path flags it), or on
/// targets without SIMD.
#[inline]
pub(super) fn scan_quoted(bytes: &[u8], delimiter: u8, limit: usize, fields: &mut Fields) -> Option<Scan> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
        let mut count = 0usize;
        let mut field_start = 0usize;
        let mut newlines = 0u64;
        let mut quotes = 0u32;
        let mut crs = 0u32;
        // 0xFFFF when the block starts inside quotes, else 0.
        let mut inside_in = 0u32;
        let mut i = 0usize;
        // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsics are
        // available; every load reads 16 bytes at `i` with `i + 16 <= len`.
        unsafe {
            let delim = _mm_set1_epi8(delimiter as i8);
            let newline = _mm_set1_epi8(b'\n' as i8);
            let quote = _mm_set1_epi8(b'"' as i8);
            let cr = _mm_set1_epi8(b'\r' as i8);
            while i + 16 <= bytes.len() {
                if i + 15 > limit {
                    return None;
                }
                let v = _mm_loadu_si128(bytes.as_ptr().add(i).cast::<__m128i>());
                let q = _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u32;
                let nl = _mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u32;
                let c = _mm_movemask_epi8(_mm_cmpeq_epi8(v, cr)) as u32;
                let mut p = q;
                p ^= p << 1;
                p ^= p << 2;
                p ^= p << 4;
                p ^= p << 8;
                let inside = (p ^ inside_in) & 0xFFFF;
                let outside = !inside & 0xFFFF;
                let nl_at = (nl & outside).trailing_zeros(); // 32 when none
                let before = if nl_at >= 16 { 0xFFFF } else { (1u32 << nl_at) - 1 };
                // Rare (x86_64 baseline has no POPCNT): only counted when present.
                if nl & inside & before != 0 {
                    newlines += u64::from((nl & inside & before).count_ones());
                }
                if c & before != 0 {
                    crs += (c & before).count_ones();
                }
                quotes |= q & before;
                let mut d = _mm_movemask_epi8(_mm_cmpeq_epi8(v, delim)) as u32 & outside & before;
                while d != 0 {
                    end_field(fields, &mut count, &mut field_start, i + d.trailing_zeros() as usize);
                    d &= d - 1;
                }
                if nl_at < 16 {
                    let end = i + nl_at as usize;
                    let saw_quote = quotes != 0;
                    return Some(Scan {
                        end,
                        next: end + 1,
                        count,
                        field_start,
                        newlines,
                        saw_quote,
                        crs: crs as usize,
                    });
                }
                inside_in = if inside & 0x8000 != 0 { 0xFFFF } else { 0 };
                i += 16;
            }
        }
        // The last few bytes of the buffer.
        let mut in_quotes = inside_in != 0;
        let mut saw_quote = quotes != 0;
        let mut crs = crs as usize;
        while i < bytes.len() {
            if i > limit {
                return None;
            }
            match bytes[i] {
                b'"' => {
                    in_quotes = !in_quotes;
                    saw_quote = true;
                }
                b'\n' if !in_quotes => {
                    return Some(Scan { end: i, next: i + 1, count, field_start, newlines, saw_quote, crs });
                }
                b'\n' => newlines += 1,
                b'\r' => crs += 1,
                b if b == delimiter && !in_quotes => {
                    end_field(fields, &mut count, &mut field_start, i);
                }
                _ => {}
            }
            i += 1;
        }
        (i <= limit).then_some(Scan { end: i, next: i, count, field_start, newlines, saw_quote, crs })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (bytes, delimiter, limit, fields);
        None
    }
}

/// The fast path of [`Scanner::next_record`](super::Scanner::next_record): a record without `"` or `\r`
/// (the common case), found 16 bytes at a time. Writes the spans of all
/// fields but the last and returns (end of record, fields before the last,
/// start of the last field); `None` when the record needs the general path
/// (quotes, `\r`, longer than `limit`, or no SIMD on this target).
#[inline]
pub(super) fn scan_plain(
    bytes: &[u8],
    delimiter: u8,
    limit: usize,
    fields: &mut Fields,
) -> Option<(usize, usize, usize)> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let mut count = 0usize;
        let mut field_start = 0usize;
        let mut i = 0usize;
        // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsics are
        // available; every load reads 16 bytes at `i` with `i + 16 <= len`.
        unsafe {
            let delim = _mm_set1_epi8(delimiter as i8);
            let newline = _mm_set1_epi8(b'\n' as i8);
            let quote = _mm_set1_epi8(b'"' as i8);
            let cr = _mm_set1_epi8(b'\r' as i8);
            while i + 16 <= bytes.len() {
                if i > limit {
                    return None;
                }
                let v = _mm_loadu_si128(bytes.as_ptr().add(i).cast::<__m128i>());
                let nl = _mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u32;
                let special = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, cr))) as u32;
                let nl_at = nl.trailing_zeros(); // 32 when none
                let before = if nl_at >= 16 { 0xFFFF } else { (1u32 << nl_at) - 1 };
                if special & before != 0 {
                    return None;
                }
                let mut d = _mm_movemask_epi8(_mm_cmpeq_epi8(v, delim)) as u32 & before;
                while d != 0 {
                    end_field(fields, &mut count, &mut field_start, i + d.trailing_zeros() as usize);
                    d &= d - 1;
                }
                if nl_at < 16 {
                    let end = i + nl_at as usize;
                    return (end <= limit).then_some((end, count, field_start));
                }
                i += 16;
            }
        }
        // The last few bytes of the buffer.
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => return (i <= limit).then_some((i, count, field_start)),
                b'"' | b'\r' => return None,
                b if b == delimiter => {
                    end_field(fields, &mut count, &mut field_start, i);
                }
                _ => {}
            }
            i += 1;
        }
        (i <= limit).then_some((i, count, field_start))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (bytes, delimiter, limit, fields);
        None
    }
}
