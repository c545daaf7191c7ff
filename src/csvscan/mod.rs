//! The CSV dialect of CDR files, scanned in place.
//!
//! One rule decides where records end, and both the parallel splitter and
//! the row parser use it, so a file is split into records the same way on
//! one thread or many: **a record ends at the first newline outside
//! quotes**, where every `"` toggles "inside quotes". For RFC 4180 files this
//! is exactly RFC 4180 (`""` toggles twice); for broken files it is at least
//! deterministic. A field whose raw text starts and ends with `"` is quoted:
//! its value is the text between, with `""` standing for `"`.
//!
//! Nothing here allocates: fields are byte ranges of the input.
//!
//! Three paths apply the rule, fastest first: `simd::scan_plain` (16 bytes
//! at a time, records without `"` or CR: generic files), `simd::scan_quoted`
//! (16 bytes at a time with the quote state as a prefix XOR of the quote
//! mask: the quoted rows of Asterisk, FreeSWITCH and CUCM), and a byte loop
//! here for records longer than the line limit (and targets without SSE2).
//! A property test and the `csv_scan` fuzz target check that all give the
//! same records and fields.

mod simd;

use simd::{scan_plain, scan_quoted};

/// How many fields a record may have before it is rejected.
pub const MAX_FIELDS: usize = 128;

/// The fields of one record, as byte ranges of the record.
pub struct Fields {
    spans: [(u32, u32); MAX_FIELDS],
    count: usize,
}

impl Default for Fields {
    fn default() -> Self {
        Fields { spans: [(0, 0); MAX_FIELDS], count: 0 }
    }
}

impl Fields {
    /// How many fields the record has (may exceed [`MAX_FIELDS`]; only the
    /// first [`MAX_FIELDS`] are kept).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the record has no fields (never true for a scanned record).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The raw bytes of field `i`, quotes included.
    #[inline]
    pub fn raw<'a>(&self, record: &'a [u8], i: usize) -> &'a [u8] {
        match self.spans.get(i) {
            Some(&(s, e)) if i < self.count => &record[s as usize..e as usize],
            _ => &[],
        }
    }

    /// The value of field `i`: outer quotes removed. `""` escapes inside are
    /// left as they are; callers that need the exact text use [`unescape`].
    #[inline]
    pub fn get<'a>(&self, record: &'a [u8], i: usize) -> &'a [u8] {
        unquote(self.raw(record, i))
    }
}

/// Strips the outer quotes of a raw field.
#[inline]
pub fn unquote(raw: &[u8]) -> &[u8] {
    match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    }
}

/// Whether a raw field is quoted and contains `""` escapes.
pub fn has_escapes(raw: &[u8]) -> bool {
    raw.len() > 2 && raw[0] == b'"' && memchr::memmem::find(&raw[1..raw.len() - 1], b"\"\"").is_some()
}

/// The exact text of a raw field (quotes removed, `""` unescaped).
pub fn unescape(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if has_escapes(raw) {
        let inner = unquote(raw);
        let mut v = Vec::with_capacity(inner.len());
        let mut i = 0;
        while i < inner.len() {
            v.push(inner[i]);
            i += if inner[i] == b'"' && inner.get(i + 1) == Some(&b'"') { 2 } else { 1 };
        }
        std::borrow::Cow::Owned(v)
    } else {
        std::borrow::Cow::Borrowed(unquote(raw))
    }
}

/// One record of a file.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The record's bytes without its line terminator.
    pub raw: &'a [u8],
    /// 1-based line number of the record's first line in the file.
    pub line: u64,
    /// Whether the record is longer than the allowed maximum (its fields
    /// were not split).
    pub too_long: bool,
    /// Whether the record has no `"` and no `\r`: its fields can be copied
    /// into CSV output as they are.
    pub plain: bool,
}

/// Iterates over the records of a buffer that starts at a record boundary,
/// splitting each into fields. Blank lines are skipped (they hold no call).
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
    max_len: usize,
    delimiter: u8,
    fast_path: bool,
}

impl<'a> Scanner<'a> {
    /// Scans `buf`, whose first byte is on line `first_line`.
    pub fn new(buf: &'a [u8], first_line: u64, max_len: usize, delimiter: u8) -> Self {
        Scanner { buf, pos: 0, line: first_line, max_len, delimiter, fast_path: true }
    }

    /// Turns off the SIMD fast path (tests compare the two paths).
    pub fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// Byte offset of the next unread record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Line number of the next unread byte.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next record, its fields written into `fields`.
    #[inline]
    pub fn next_record(&mut self, fields: &mut Fields) -> Option<Record<'a>> {
        loop {
            if self.pos >= self.buf.len() {
                return None;
            }
            let start = self.pos;
            let line = self.line;
            let bytes = &self.buf[start..];
            let limit = record_limit(self.max_len);
            let fast = if self.fast_path { scan_plain(bytes, self.delimiter, limit, fields) } else { None };
            if let Some((end, count, field_start)) = fast {
                let next = (end + 1).min(bytes.len());
                self.pos = start + next;
                self.line += u64::from(next > end);
                if end == 0 {
                    continue;
                }
                if count < MAX_FIELDS {
                    fields.spans[count] = (field_start as u32, end as u32);
                }
                fields.count = count + 1;
                return Some(Record { raw: &bytes[..end], line, too_long: false, plain: true });
            }
            // Quotes or CR: the same rule, still 16 bytes at a time.
            let quoted = if self.fast_path { scan_quoted(bytes, self.delimiter, limit, fields) } else { None };
            if let Some(s) = quoted {
                self.pos = start + s.next;
                self.line += s.newlines + u64::from(s.next > s.end);
                let mut raw = &bytes[..s.end];
                let mut crs = s.crs;
                if let [head @ .., b'\r'] = raw {
                    raw = head;
                    crs -= 1;
                }
                if raw.is_empty() {
                    continue;
                }
                // Every position scanned was within `limit`: not too long.
                let last_end = raw.len();
                if s.count < MAX_FIELDS {
                    fields.spans[s.count] = (s.field_start.min(last_end) as u32, last_end as u32);
                }
                fields.count = s.count + 1;
                return Some(Record { raw, line, too_long: false, plain: !s.saw_quote && crs == 0 });
            }
            let mut in_quotes = false;
            let mut saw_quote = false;
            let mut field_start = 0usize;
            let mut count = 0usize;
            let mut newlines = 0u64;
            let mut end = bytes.len();
            let mut next = bytes.len();
            let mut i = 0usize;
            while i < bytes.len() {
                if i > limit {
                    // Too long: fields past the limit are only counted, so
                    // jump from one special byte to the next (a huge record
                    // is crossed at memchr speed, not a byte at a time).
                    match memchr::memchr3(b'"', b'\n', self.delimiter, &bytes[i..]) {
                        None => break,
                        Some(at) => i += at,
                    }
                }
                let b = bytes[i];
                if b == b'"' {
                    in_quotes = !in_quotes;
                    saw_quote = true;
                } else if b == b'\n' {
                    if !in_quotes {
                        end = i;
                        next = i + 1;
                        break;
                    }
                    newlines += 1;
                } else if b == self.delimiter && !in_quotes {
                    if count < MAX_FIELDS && i <= limit {
                        fields.spans[count] = (field_start as u32, i as u32);
                    }
                    count += 1;
                    field_start = i + 1;
                }
                i += 1;
            }
            self.pos = start + next;
            self.line += newlines + u64::from(next > end);
            let mut raw = &bytes[..end];
            if let [head @ .., b'\r'] = raw {
                raw = head;
            }
            if raw.is_empty() {
                continue;
            }
            let too_long = raw.len() > limit;
            let last_end = raw.len().min(limit);
            if count < MAX_FIELDS && !too_long {
                fields.spans[count] = (field_start.min(last_end) as u32, last_end as u32);
            }
            count += 1;
            fields.count = count;
            let plain = !saw_quote && memchr::memchr(b'\r', raw).is_none();
            return Some(Record { raw, line, too_long, plain });
        }
    }
}

/// Counts `"` and `\n` bytes (written to vectorise).
fn count_quotes_newlines(buf: &[u8]) -> (usize, usize) {
    let mut q = 0usize;
    let mut n = 0usize;
    for block in buf.chunks(4096) {
        let mut bq = 0u32;
        let mut bn = 0u32;
        for &b in block {
            bq += u32::from(b == b'"');
            bn += u32::from(b == b'\n');
        }
        q += bq as usize;
        n += bn as usize;
    }
    (q, n)
}

/// A piece of a buffer that starts and ends at record boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range in the buffer.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// Line number of the chunk's first byte.
    pub first_line: u64,
}

/// Cuts a buffer that starts at a record boundary into chunks of about
/// `target` bytes, each ending at a record boundary (same rule as
/// [`Scanner`]), in order, lazily.
pub struct Chunker<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
    target: usize,
}

impl<'a> Chunker<'a> {
    /// Chunks `buf`, whose first byte is on line `first_line`.
    pub fn new(buf: &'a [u8], first_line: u64, target: usize) -> Self {
        Chunker { buf, pos: 0, line: first_line, target: target.max(1) }
    }

    /// Line number of the next unread byte.
    pub fn line(&self) -> u64 {
        self.line
    }
}

impl Iterator for Chunker<'_> {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let first_line = self.line;
        let mut cut = (start + self.target).min(self.buf.len());
        let (q, n) = count_quotes_newlines(&self.buf[start..cut]);
        let mut in_quotes = q % 2 == 1;
        let mut lines = n as u64;
        // On to the first newline outside quotes.
        let mut inner = 0u64;
        match find_record_end(&self.buf[cut..], &mut in_quotes, &mut inner) {
            Some(at) => {
                cut += at + 1;
                lines += inner + 1;
            }
            None => {
                cut = self.buf.len();
                lines += inner;
            }
        }
        // A cut that lands right after a newline outside quotes is already a boundary.
        self.pos = cut;
        self.line += lines;
        Some(Chunk { start, end: cut, first_line })
    }
}

/// The longest record [`Scanner`] takes for `max_len`: records longer are
/// `too_long`, and the head kept of such a record is this long.
pub fn record_limit(max_len: usize) -> usize {
    max_len.min(u32::MAX as usize - 1)
}

/// Where a record continues in `bytes` ends: the index of its ending `\n`
/// (the first outside quotes), or `None` when it runs past `bytes`.
/// `in_quotes` carries the quote state across calls (false at a record's
/// start); `inner_newlines` adds the `\n`s passed inside quotes. Jumps from
/// one `"` or `\n` to the next, so skipping a huge record is cheap.
#[inline]
pub fn find_record_end(bytes: &[u8], in_quotes: &mut bool, inner_newlines: &mut u64) -> Option<usize> {
    let mut i = 0usize;
    while let Some(at) = memchr::memchr2(b'"', b'\n', &bytes[i..]) {
        let j = i + at;
        if bytes[j] == b'"' {
            *in_quotes = !*in_quotes;
        } else if *in_quotes {
            *inner_newlines += 1;
        } else {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

/// Length of the longest prefix of `buf` made of whole records (ending in a
/// newline outside quotes): where a streaming reader may cut.
pub fn last_boundary(buf: &[u8]) -> usize {
    let (q, _) = count_quotes_newlines(buf);
    let mut parity_after = q % 2; // parity of quotes in buf[..i+1]
    let mut i = buf.len();
    while i > 0 {
        i -= 1;
        match buf[i] {
            b'\n' if parity_after == 0 => return i + 1,
            b'"' => parity_after ^= 1,
            _ => {}
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(buf: &[u8]) -> Vec<(u64, Vec<String>)> {
        let mut s = Scanner::new(buf, 1, 1 << 20, b',');
        let mut f = Fields::default();
        let mut out = Vec::new();
        while let Some(r) = s.next_record(&mut f) {
            let v = (0..f.len()).map(|i| String::from_utf8_lossy(&unescape(f.raw(r.raw, i))).into_owned()).collect();
            out.push((r.line, v));
        }
        out
    }

    #[test]
    fn splits_quoted_fields_and_multiline_records() {
        let got = records(b"a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\n\n\"multi\nline\",2\nlast");
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (1, vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(got[1], (2, vec!["x,1".into(), "say \"hi\"".into(), "".into()]));
        assert_eq!(got[2], (4, vec!["multi\nline".into(), "2".into()]));
        assert_eq!(got[3], (6, vec!["last".into()]));
    }

    #[test]
    fn long_records_are_flagged() {
        let mut s = Scanner::new(b"short\nxxxxxxxxxxxxxxxx,y\nok", 1, 8, b',');
        let mut f = Fields::default();
        assert!(!s.next_record(&mut f).unwrap().too_long);
        let r = s.next_record(&mut f).unwrap();
        assert!(r.too_long);
        assert_eq!(r.line, 2);
        assert_eq!(s.next_record(&mut f).unwrap().raw, b"ok");
    }

    #[test]
    fn chunks_end_at_record_boundaries() {
        let buf = b"1,\"a\nb\",x\n2,y\n3,\"c\"\n4,z\n";
        for target in 1..buf.len() + 2 {
            let chunks: Vec<Chunk> = Chunker::new(buf, 1, target).collect();
            let mut lines = Vec::new();
            for c in &chunks {
                let mut s = Scanner::new(&buf[c.start..c.end], c.first_line, 1 << 20, b',');
                let mut f = Fields::default();
                while let Some(r) = s.next_record(&mut f) {
                    lines.push((r.line, r.raw.to_vec()));
                }
            }
            let whole = {
                let mut s = Scanner::new(buf, 1, 1 << 20, b',');
                let mut f = Fields::default();
                let mut v = Vec::new();
                while let Some(r) = s.next_record(&mut f) {
                    v.push((r.line, r.raw.to_vec()));
                }
                v
            };
            assert_eq!(lines, whole, "target {target}");
        }
    }

    /// (line, raw, too_long, plain claim valid, fields)
    type Scanned = (u64, Vec<u8>, bool, bool, Vec<Vec<u8>>);

    fn scan_all(buf: &[u8], max: usize, fast: bool) -> Vec<Scanned> {
        let mut s = Scanner::new(buf, 1, max, b',');
        if !fast {
            s = s.without_fast_path();
        }
        let mut f = Fields::default();
        let mut out = Vec::new();
        while let Some(r) = s.next_record(&mut f) {
            let fields = if r.too_long { Vec::new() } else { (0..f.len()).map(|i| f.raw(r.raw, i).to_vec()).collect() };
            // `plain` may only be claimed by records without quotes or CR.
            let plain_ok = !r.plain || !r.raw.iter().any(|&b| b == b'"' || b == b'\r');
            out.push((r.line, r.raw.to_vec(), r.too_long, plain_ok, fields));
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn fast_and_general_paths_agree(
            bytes in proptest::prop_oneof![
                proptest::collection::vec(proptest::sample::select(b"ab,,,\"\n\n\r0123456789".to_vec()), 0..300),
                // Long plain records: the 16-byte blocks of the fast path.
                proptest::collection::vec(proptest::sample::select(b"abcdefghijklmnopqrstuvwxyz,,,,0123456789\n".to_vec()), 0..600),
                proptest::collection::vec(proptest::sample::select(b"abcdefghijklmnop,,,,\"\"\n\r0123456789".to_vec()), 0..900),
            ],
            max in proptest::prop_oneof![1usize..64, 64usize..1000],
        ) {
            let fast = scan_all(&bytes, max, true);
            let general = scan_all(&bytes, max, false);
            proptest::prop_assert!(fast.iter().all(|r| r.3));
            let strip = |v: Vec<Scanned>| -> Vec<_> { v.into_iter().map(|r| (r.0, r.1, r.2, r.4)).collect() };
            proptest::prop_assert_eq!(strip(fast), strip(general));
        }
    }

    proptest::proptest! {
        #[test]
        fn find_record_end_follows_the_record_rule_across_pieces(
            bytes in proptest::collection::vec(proptest::sample::select(b"ab,\"\n\r".to_vec()), 0..200),
            split in 0usize..200,
        ) {
            // The rule byte by byte: the end, the quote state and the quoted newlines.
            let (mut in_quotes, mut inner, mut end) = (false, 0u64, None);
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    b'"' => in_quotes = !in_quotes,
                    b'\n' if !in_quotes => {
                        end = Some(i);
                        break;
                    }
                    b'\n' => inner += 1,
                    _ => {}
                }
            }
            // In two pieces, the state carried from the first to the second.
            let split = split.min(bytes.len());
            let (mut q, mut n) = (false, 0u64);
            let got = match find_record_end(&bytes[..split], &mut q, &mut n) {
                Some(at) => Some(at),
                None => find_record_end(&bytes[split..], &mut q, &mut n).map(|at| split + at),
            };
            proptest::prop_assert_eq!(got, end);
            proptest::prop_assert_eq!(n, inner);
            if end.is_none() {
                proptest::prop_assert_eq!(q, in_quotes);
            }
        }
    }

    #[test]
    fn last_boundary_respects_quotes() {
        assert_eq!(last_boundary(b"a\nb\"\nc"), 2);
        assert_eq!(last_boundary(b"a\nb\"\"\nc"), 6);
        assert_eq!(last_boundary(b"abc"), 0);
    }
}
