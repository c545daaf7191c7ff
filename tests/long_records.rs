//! Records longer than `[limits] max_line_bytes`: each is one
//! `line_too_long` row holding the record's first `max_line_bytes` bytes, on
//! the line it starts on, whichever way the file is read; the streamed path
//! reads past it without holding it, and no buffer it grew stays behind.
//! Memory is measured in process by a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use cdr_rater::formats::{Format, FormatName, Reject};
use cdr_rater::numbers::Numbering;
use cdr_rater::pipeline::{self, Input, Job, MemorySink, RowLimits, Totals, CHUNK_BYTES};
use cdr_rater::rating::Rater;
use cdr_rater::tariff::{self, Tariff};
use proptest::prelude::*;

/// Counts the bytes allocated now and at the peak.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            NOW.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = NOW.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Measurements need the process to themselves: every test takes this.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tariff() -> &'static Tariff {
    static T: OnceLock<Tariff> = OnceLock::new();
    T.get_or_init(|| {
        tariff::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rates"),
            "NL",
            &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
        )
        .unwrap()
        .0
    })
}

fn numbering() -> &'static Numbering {
    static N: OnceLock<Numbering> = OnceLock::new();
    N.get_or_init(Numbering::default)
}

fn job(format: FormatName, max_line_bytes: usize, chunk_bytes: usize) -> Job<'static> {
    Job {
        name: "long.csv".into(),
        format: Format::plain(format).unwrap(),
        rater: Rater { tariff: tariff(), numbering: numbering(), decimals: 4, default_customer: None },
        timezone: jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap(),
        limits: RowLimits::lines(max_line_bytes),
        chunk_bytes,
        cancel: None,
        ids: false,
        usage: false,
        fraud: None,
        pool: None,
    }
}

/// Hands out the input in reads of the sizes in `sizes` (cycled).
struct Uneven {
    data: std::io::Cursor<Vec<u8>>,
    sizes: Vec<usize>,
    k: usize,
}

impl Read for Uneven {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.sizes[self.k % self.sizes.len()].min(buf.len());
        self.k += 1;
        self.data.read(&mut buf[..n])
    }
}

fn rate(input: Input, job: &Job<'_>) -> (Totals, MemorySink) {
    let mut sink = MemorySink::default();
    let totals = pipeline::rate(input, job, &mut sink, None).expect("rates").totals;
    (totals, sink)
}

/// The records of `buf` by the record rule, written as plainly as possible:
/// (line, raw without its `\r\n`/`\n`), blank lines left out.
fn reference_records(buf: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let (mut pos, mut line) = (0usize, 1u64);
    while pos < buf.len() {
        let (mut in_quotes, mut inner) = (false, 0u64);
        let (mut end, mut next) = (buf.len(), buf.len());
        for (i, &b) in buf.iter().enumerate().skip(pos) {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' if !in_quotes => {
                    (end, next) = (i, i + 1);
                    break;
                }
                b'\n' => inner += 1,
                _ => {}
            }
        }
        let raw_end = if end > pos && buf[end - 1] == b'\r' { end - 1 } else { end };
        if raw_end > pos {
            out.push((line, buf[pos..raw_end].to_vec()));
        }
        line += inner + u64::from(next > end);
        pos = next;
    }
    out
}

/// (line, raw) of the `line_too_long` rows of a rejected output.
fn too_long_rows(rejected: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(rejected);
    r.byte_records()
        .map(|rec| rec.expect("the rejected output is valid CSV"))
        .filter(|rec| &rec[1] == b"line_too_long")
        .map(|rec| (std::str::from_utf8(&rec[0]).unwrap().parse().unwrap(), rec[2].to_vec()))
        .collect()
}

const HEADER: &str = "call_id,start_time,account,caller,callee,billsec,disposition\n";
const ROW: &str = "r,2026-11-24T10:00:00+01:00,C0001,0201234501,0201234567,60,ANSWERED";

/// A file of ordinary rows, blank lines, and junk records of every length
/// made of the bytes that matter to the record rule; sometimes ending in an
/// unterminated quote or without a final newline.
fn file() -> impl Strategy<Value = Vec<u8>> {
    let junk = prop::collection::vec(prop::sample::select(b"xxxxxxxx,\"\n\r".to_vec()), 0..700);
    let plain_long = (0usize..700).prop_map(|n| {
        let mut r = ROW.as_bytes().to_vec();
        r.extend(std::iter::repeat_n(b'x', n));
        r
    });
    let quoted = (0usize..300, 0usize..4).prop_map(|(n, newlines)| {
        let mut r = b"q,\"".to_vec();
        for _ in 0..newlines {
            r.extend(std::iter::repeat_n(b'y', n / 4));
            r.push(b'\n');
        }
        r.extend(b"\",x,x,x,x,x");
        r
    });
    let record = prop_oneof![
        3 => Just(ROW.as_bytes().to_vec()),
        1 => Just(Vec::new()),
        2 => junk,
        2 => plain_long,
        2 => quoted,
    ];
    (prop::collection::vec(record, 0..30), 0u8..3).prop_map(|(records, end)| {
        let mut out = HEADER.as_bytes().to_vec();
        for r in records {
            out.extend(r);
            out.push(b'\n');
        }
        match end {
            0 => {}
            1 => {
                out.pop(); // no final newline
            }
            _ => out.extend(b"open,\"quote\nto the end"),
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn streamed_and_mapped_inputs_agree_on_long_records(
        input in file(),
        max_line in 1usize..400,
        chunk in 1usize..200,
        sizes in prop::collection::vec(1usize..600, 1..8),
        asterisk in any::<bool>(),
    ) {
        let _serial = serial();
        let format = if asterisk { FormatName::Asterisk } else { FormatName::Generic };
        let job = job(format, max_line, chunk);
        let mapped = rate(Input::Slice(input.clone()), &job);
        let reader = Uneven { data: std::io::Cursor::new(input.clone()), sizes, k: 0 };
        let streamed = rate(Input::Stream(Box::new(reader)), &job);
        prop_assert_eq!(&streamed, &mapped);

        // And both are right: every record is one row, each one too long is
        // its head on its first line.
        let (t, sink) = mapped;
        let records = reference_records(&input);
        let data = if asterisk { &records[..] } else { &records[1..] };
        prop_assert_eq!(t.rows, data.len() as u64);
        prop_assert_eq!(t.rows, t.rated + t.unrated + t.rejected + t.skipped);
        let expected: Vec<(u64, Vec<u8>)> =
            data.iter().filter(|(_, raw)| raw.len() > max_line).map(|(l, raw)| (*l, raw[..max_line].to_vec())).collect();
        prop_assert_eq!(t.by_reject[Reject::LineTooLong as usize], expected.len() as u64);
        prop_assert_eq!(too_long_rows(&sink.files[2]), expected);
    }
}

/// A record of `len` bytes (quoted newlines every 4 KiB, a comma every 100
/// bytes) between two rows, produced as it is read: nothing holds it whole.
struct HugeRecord {
    pos: usize,
    len: usize,
    before: Vec<u8>,
    after: Vec<u8>,
}

impl HugeRecord {
    fn new(len: usize) -> HugeRecord {
        HugeRecord {
            pos: 0,
            len,
            before: format!("{HEADER}{ROW}\nhuge,\"").into_bytes(),
            after: format!("\"\n{ROW}\n").into_bytes(),
        }
    }

    fn byte(&self, i: usize) -> u8 {
        if i < self.before.len() {
            self.before[i]
        } else if i < self.before.len() + self.len {
            match (i - self.before.len()) % 4096 {
                4095 => b'\n',
                k if k % 100 == 99 => b',',
                _ => b'z',
            }
        } else {
            self.after[i - self.before.len() - self.len]
        }
    }

    fn total(&self) -> usize {
        self.before.len() + self.len + self.after.len()
    }
}

impl Read for HugeRecord {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.total() - self.pos);
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = self.byte(self.pos + k);
        }
        self.pos += n;
        Ok(n)
    }
}

/// Peak bytes allocated above what was allocated before, while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

#[test]
fn a_huge_record_costs_its_head_not_its_size() {
    let _serial = serial();
    const LEN: usize = 64 << 20;
    let job = job(FormatName::Generic, 65536, CHUNK_BYTES);
    // The window (8 MiB), a head (64 KiB) and a batch's output buffers.
    let bound = 24 << 20;
    let check = |(t, sink): &(Totals, MemorySink)| {
        assert_eq!((t.rows, t.rated, t.rejected), (3, 2, 1));
        let rows = too_long_rows(&sink.files[2]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 3);
        let source = HugeRecord::new(LEN);
        let start = HEADER.len() + ROW.len() + 1;
        let head: Vec<u8> = (start..start + 65536).map(|i| source.byte(i)).collect();
        assert!(head.starts_with(b"huge,\"zzz") && head.contains(&b'\n'));
        assert!(rows[0].1 == head, "the row is not the record's head");
    };

    let (streamed, peak) = peak_during(|| rate(Input::Stream(Box::new(HugeRecord::new(LEN))), &job));
    check(&streamed);
    assert!(peak < bound, "streamed: {} MiB at the peak", peak >> 20);

    // Held in memory (as a mapped file would be): the rejected row is its
    // head, not a copy.
    let mut bytes = Vec::new();
    HugeRecord::new(LEN).read_to_end(&mut bytes).unwrap();
    let (held, peak) = peak_during(|| rate(Input::Slice(bytes), &job));
    check(&held);
    assert!(peak < bound, "in memory: {} MiB at the peak", peak >> 20);
    assert_eq!(streamed, held);
}

#[test]
fn buffers_grown_by_one_big_row_are_not_kept() {
    let _serial = serial();
    // A 20 MiB row within a raised limit: unrated (unknown customer), so
    // one chunk's unrated buffer grows to hold it.
    let job = job(FormatName::Generic, 64 << 20, CHUNK_BYTES);
    let base = NOW.load(Ordering::Relaxed);
    let mut input = HEADER.as_bytes().to_vec();
    input.extend(ROW.replace("C0001", "C9999").as_bytes());
    input.extend(std::iter::repeat_n(b'x', 20 << 20));
    input.push(b'\n');
    let (t, sink) = rate(Input::Slice(input), &job);
    assert_eq!((t.rows, t.unrated), (1, 1));
    drop(sink);
    let kept = NOW.load(Ordering::Relaxed).saturating_sub(base);
    assert!(kept < 8 << 20, "{} MiB still allocated after the file", kept >> 20);
}
