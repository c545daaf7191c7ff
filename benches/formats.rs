//! Parsing throughput of every CDR format on the same calls: 100,000 generic
//! rows from `generate::write_cdrs`, each converted here into the row layout
//! of every other format. Scan + parse only, no rating.
//!
//! `cargo bench --bench formats`; one benchmark per format (`parse/generic`,
//! `parse/asterisk`, ...), throughput in rows; and for each format a control
//! (`generic_same_shape/asterisk`, ...): the same calls as generic rows with
//! the bytes, fields and quoting of that format's rows (see `same_shape`).
//!
//! The setup (not timed) checks that every converted row parses, and to the
//! same call as its generic row (start instant, billsec, caller, number; and
//! the answer instant, or none when unanswered), so no benchmark measures an
//! error path.

use std::hint::black_box;
use std::path::Path;

use cdr_rater::csvscan::{unquote, Fields, Scanner};
use cdr_rater::formats::{custom, CallId, Format, FormatName, FormatOptions, ParseContext, Parser, RowParser};
use cdr_rater::generate;
use cdr_rater::numbers::{Number, Numbering};
use cdr_rater::tariff;
use cdr_rater::timefmt::ZoneCache;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jiff::tz::TimeZone;

const ROWS: u64 = 100_000;
const ZONE: &str = "Europe/Amsterdam";
/// Line length limit of data rows, as in `benches/rating.rs`.
const MAX_LINE: usize = 1 << 16;

/// One generated call, as the generic parser read it.
struct Gen {
    id: String,
    /// Start, seconds since the epoch.
    start: i64,
    account: String,
    caller: String,
    callee: String,
    billsec: u32,
    /// Seconds from start to answer (or to hang-up when unanswered).
    ring: i64,
}

impl Gen {
    fn answered(&self) -> bool {
        self.billsec > 0
    }

    /// Answer instant, when answered.
    fn answer(&self) -> Option<i64> {
        self.answered().then_some(self.start + self.ring)
    }

    fn end(&self) -> i64 {
        self.start + self.ring + i64::from(self.billsec)
    }

    fn duration(&self) -> i64 {
        self.end() - self.start
    }
}

/// A local wall-clock time in `tz`: (year, month, day, hour, minute, second).
fn civil(tz: &TimeZone, epoch: i64) -> (i16, i8, i8, i8, i8, i8) {
    let dt = tz.to_datetime(jiff::Timestamp::from_second(epoch).unwrap());
    (dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute(), dt.second())
}

/// `YYYY<sep>MM<sep>DD HH:MM:SS`, local in `tz`.
fn ymd(tz: &TimeZone, epoch: i64, sep: char) -> String {
    let (y, mo, d, h, mi, s) = civil(tz, epoch);
    format!("{y:04}{sep}{mo:02}{sep}{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `DD.MM.YYYY HH:MM:SS`, local in `tz` (the custom sample's layout).
fn dmy(tz: &TimeZone, epoch: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(tz, epoch);
    format!("{d:02}.{mo:02}.{y:04} {h:02}:{mi:02}:{s:02}")
}

/// A UUID-shaped id, the next of a seeded sequence.
fn uuid(rng: &mut generate::Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The 100k generic rows, and the calls they hold (read with the generic parser).
fn generic_rows(tz: &TimeZone, numbering: &Numbering) -> (Vec<u8>, Vec<Gen>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (t, _) = tariff::load(&repo.join("rates"), "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap())
        .expect("shipped rates load");
    let mut input = Vec::new();
    generate::write_cdrs(&t, ROWS, 42, &mut input).unwrap();
    let p = prepare(FormatName::Generic, &FormatOptions::default(), input.clone());
    let mut zone = ZoneCache::new(tz.clone());
    let mut s = Scanner::new(p.body(), p.first_line, MAX_LINE, p.format.delimiter());
    let mut f = Fields::default();
    let mut rng = generate::Rng::new(7);
    let mut calls = Vec::with_capacity(ROWS as usize);
    while let Some(r) = s.next_record(&mut f) {
        assert!(!r.raw.contains(&b'"'), "generated rows are unquoted");
        let mut cx = ParseContext { zone: &mut zone, numbering };
        let c = p.parser.parse(&r, &f, &mut cx).unwrap_or_else(|e| panic!("generic line {}: {e:?}", r.line));
        let text = |b: &[u8]| String::from_utf8(unquote(b).to_vec()).unwrap();
        let CallId::Field(id) = c.call_id else { panic!("generic rows have ids") };
        calls.push(Gen {
            id: text(id),
            start: c.start.epoch_seconds(),
            account: text(c.account),
            caller: text(c.caller),
            callee: text(c.callee),
            billsec: c.billsec,
            ring: 1 + rng.below(20) as i64,
        });
    }
    assert_eq!(calls.len() as u64, ROWS);
    (input, calls)
}

/// Asterisk cdr-csv `Master.csv`: no header, the 16 standard columns and the
/// five optional ones (uniqueid, userfield, peeraccount, linkedid, sequence),
/// strings quoted, numbers bare, local times, like `samples/Master.csv`.
fn asterisk(calls: &[Gen], tz: &TimeZone) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let uniqueid = format!("{}.{i}", c.start);
        let answer = c.answer().map_or(String::new(), |a| format!("\"{}\"", ymd(tz, a, '-')));
        let line = format!(
            "\"{acct}\",\"{src}\",\"{dst}\",\"from-internal\",\"\"\"Extension {ext}\"\" <{src}>\",\
             \"PJSIP/{ext}-{i:08x}\",\"PJSIP/trunk-kpn-{i:08x}\",\"Dial\",\"PJSIP/{dst}@trunk-kpn,60,T\",\
             \"{start}\",{answer},\"{end}\",{duration},{billsec},\"{disposition}\",\"BILLING\",\
             \"{uniqueid}\",\"\",\"\",\"{uniqueid}\",{i}\n",
            acct = c.account,
            src = c.caller,
            dst = c.callee,
            ext = 200 + i % 50,
            start = ymd(tz, c.start, '-'),
            end = ymd(tz, c.end(), '-'),
            duration = c.duration(),
            billsec = c.billsec,
            disposition = if c.answered() { "ANSWERED" } else { "NO ANSWER" },
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// FreeSWITCH mod_cdr_csv, `example` template: no header, 15 quoted fields,
/// local times, like `samples/freeswitch/a-legs.csv` (`legs = "a"`).
fn freeswitch(calls: &[Gen], tz: &TimeZone) -> Vec<u8> {
    let mut rng = generate::Rng::new(11);
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let (a, b) = (uuid(&mut rng), uuid(&mut rng));
        let line = format!(
            "\"Extension {ext}\",\"{src}\",\"{dst}\",\"default\",\"{start}\",\"{answer}\",\"{end}\",\"{duration}\",\
             \"{billsec}\",\"{cause}\",\"{a}\",\"{bleg}\",\"{acct}\",\"PCMA\",\"PCMA\"\n",
            ext = 1000 + i % 50,
            src = c.caller,
            dst = c.callee,
            start = ymd(tz, c.start, '-'),
            answer = c.answer().map_or(String::new(), |t| ymd(tz, t, '-')),
            end = ymd(tz, c.end(), '-'),
            duration = c.duration(),
            billsec = c.billsec,
            cause = if c.answered() { "NORMAL_CLEARING" } else { "NO_ANSWER" },
            bleg = if c.answered() { &b[..] } else { "" },
            acct = c.account,
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// The 3CX CDR log in the default 27-field order, as 3CX v20 writes it
/// (`samples/3cx/cdr-v20.csv`): `Call N` first, `YYYY/MM/DD HH:MM:SS` local
/// times, billsec = time-end − time-answered (empty time-answered when not
/// answered), the chain `;`-separated, a trailing comma, LF line ends.
fn threecx(calls: &[Gen], tz: &TimeZone) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let n = 40_000 + i;
        let d = c.billsec;
        let line = format!(
            "Call {n},5d1e0c7a33b2f6e1_{n},{h:02}:{m:02}:{s:02},{start},{answered},{end},{reason},{from},{to},\
             {from_dn},10020,{to},,{to},10020,default,1,{cost}.{cents:02},default,Chain: {from};{to};,\
             Extension,Line,Line,Extension {from_dn},{to},{to},\n",
            h = d / 3600,
            m = d / 60 % 60,
            s = d % 60,
            start = ymd(tz, c.start, '/'),
            answered = c.answer().map_or(String::new(), |t| ymd(tz, t, '/')),
            end = ymd(tz, c.end(), '/'),
            reason = if c.answered() { "TerminatedBySrc" } else { "TerminatedByDst" },
            from = c.caller,
            to = c.callee,
            from_dn = 10_000 + i % 50,
            cost = d / 60,
            cents = d % 60 * 100 / 60,
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// A CUCM CDR flat file: the two header lines (names, types) and the first
/// record of `samples/cucm/...` as the template of every row (129 fields,
/// integers bare, strings quoted), with the call's fields put in by name.
fn cucm(calls: &[Gen]) -> Vec<u8> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = std::fs::read(repo.join("samples/cucm/cdr_StandAloneCluster_01_202611240900_1234")).unwrap();
    let mut lines = sample.split(|&b| b == b'\n');
    let (names, types, template) = (lines.next().unwrap(), lines.next().unwrap(), lines.next().unwrap());
    let split = |line: &[u8]| -> Vec<Vec<u8>> {
        let mut f = Fields::default();
        let r = Scanner::new(line, 1, 1 << 20, b',').next_record(&mut f).unwrap();
        (0..f.len()).map(|i| f.raw(r.raw, i).to_vec()).collect()
    };
    let header = split(names);
    let template = split(template);
    assert_eq!(header.len(), template.len());
    let at = |name: &str| header.iter().position(|h| unquote(h) == name.as_bytes()).unwrap();
    let [call_id, orig, calling, original, fin, connect, disconnect, pkid, duration] = [
        "globalCallID_callId",
        "dateTimeOrigination",
        "callingPartyNumber",
        "originalCalledPartyNumber",
        "finalCalledPartyNumber",
        "dateTimeConnect",
        "dateTimeDisconnect",
        "pkid",
        "duration",
    ]
    .map(at);
    let mut rng = generate::Rng::new(13);
    let mut out = Vec::new();
    out.extend_from_slice(names);
    out.push(b'\n');
    out.extend_from_slice(types);
    out.push(b'\n');
    let mut row = template.clone();
    for (i, c) in calls.iter().enumerate() {
        let quoted = |s: &str| format!("\"{s}\"").into_bytes();
        row[call_id] = (1000 + i).to_string().into_bytes();
        row[orig] = c.start.to_string().into_bytes();
        row[calling] = quoted(&c.caller);
        row[original] = quoted(&c.callee);
        row[fin] = quoted(&c.callee);
        row[connect] = c.answer().unwrap_or(0).to_string().into_bytes();
        row[disconnect] = c.end().to_string().into_bytes();
        row[pkid] = quoted(&uuid(&mut rng));
        row[duration] = c.billsec.to_string().into_bytes();
        out.extend_from_slice(&row.join(&b','));
        out.push(b'\n');
    }
    out
}

/// The `[custom]` layout of `samples/custom/cdr-rater.toml`.
fn custom_options() -> FormatOptions {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("samples/custom/cdr-rater.toml")).unwrap();
    let mut config: toml::Table = toml::from_str(&text).unwrap();
    let layout: custom::Options = config.remove("custom").expect("a [custom] table").try_into().unwrap();
    FormatOptions { custom: Some(layout), ..FormatOptions::default() }
}

/// Rows of the custom sample's layout (`samples/custom/calls-2026-11-24.csv`):
/// `;`-separated, a header, day-first local times, answer and end instead
/// of billsec (an empty answer: not answered). Every call is outbound, so
/// the sample's skip rule (`direction = inbound`) never applies.
fn custom_rows(calls: &[Gen], tz: &TimeZone) -> Vec<u8> {
    let mut out = b"id;direction;account;from;to;start;answer;end;status\n".to_vec();
    for c in calls {
        let line = format!(
            "{id};outbound;{acct};{from};{to};{start};{answer};{end};{status}\n",
            id = c.id,
            acct = c.account,
            from = c.caller,
            to = c.callee,
            start = dmy(tz, c.start),
            answer = c.answer().map_or(String::new(), |t| dmy(tz, t)),
            end = dmy(tz, c.end()),
            status = if c.answered() { "ANSWERED" } else { "NO ANSWER" },
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// A file of one format, its header records read and its parser built the
/// way the pipeline does (`FileState::start`).
struct Prepared {
    format: Format,
    parser: Parser,
    input: Vec<u8>,
    /// Where the data rows start.
    offset: usize,
    first_line: u64,
}

impl Prepared {
    fn body(&self) -> &[u8] {
        &self.input[self.offset..]
    }
}

fn prepare(name: FormatName, options: &FormatOptions, input: Vec<u8>) -> Prepared {
    let format = Format::new(name, options).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let mut scanner = Scanner::new(&input, 1, 1 << 20, format.delimiter());
    let mut fields = Fields::default();
    let mut headers: Vec<Vec<&[u8]>> = Vec::new();
    while headers.len() < format.header_records() {
        let rec = scanner.next_record(&mut fields).expect("header records");
        headers.push((0..fields.len()).map(|i| fields.get(rec.raw, i)).collect());
    }
    let parser = Parser::new(&format, &headers).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (offset, first_line) = (scanner.position(), scanner.line());
    Prepared { format, parser, input, offset, first_line }
}

/// The control of a format's file: the same calls as generic rows of the
/// same shape. Row `i` is generic row `i` (7 fields) followed by the raw
/// fields of the format's row `i` past its 7th, the last one padded so that
/// the row has as many bytes as the format's row (quoted fields stay quoted).
/// The generic parser ignores the extra columns, so the scanner sees the
/// same bytes, fields and quotes per row as in the format's file, and the
/// difference between the two is what the format's own parsing costs.
fn same_shape(p: &Prepared, generic: &Prepared) -> Vec<u8> {
    let (mut sf, mut gf) = (Fields::default(), Fields::default());
    let mut s = Scanner::new(p.body(), p.first_line, MAX_LINE, p.format.delimiter());
    let mut g = Scanner::new(generic.body(), generic.first_line, MAX_LINE, b',');
    let mut rows = Vec::new();
    let mut width = 0;
    while let (Some(r), Some(gr)) = (s.next_record(&mut sf), g.next_record(&mut gf)) {
        let mut extra: Vec<Vec<u8>> = (gf.len()..sf.len()).map(|i| sf.raw(r.raw, i).to_vec()).collect();
        let width_of = |extra: &[Vec<u8>]| gr.raw.len() + extra.iter().map(|e| e.len() + 1).sum::<usize>();
        // Longer than the format's row (its first columns are shorter than
        // generic's): shorten the longest extra fields, keeping their quotes.
        while width_of(&extra) > r.raw.len() {
            let longest = extra.iter_mut().max_by_key(|e| e.len()).expect("extra fields");
            let at = longest.len() / 2;
            assert!(longest.len() > 2, "cannot shorten the row to {} bytes", r.raw.len());
            longest.remove(at);
        }
        let mut row = gr.raw.to_vec();
        for e in &extra {
            row.push(b',');
            row.extend_from_slice(e);
        }
        if row.len() < r.raw.len() {
            let pad = r.raw.len() - row.len();
            let at = if row.last() == Some(&b'"') { row.len() - 1 } else { row.len() };
            row.splice(at..at, std::iter::repeat_n(b'x', pad));
        }
        width = width.max(sf.len());
        rows.extend_from_slice(&row);
        rows.push(b'\n');
    }
    let mut out = b"call_id,start_time,account,caller,callee,billsec,disposition".to_vec();
    for i in 8..=width {
        out.extend_from_slice(format!(",x{i}").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(&rows);
    out
}

/// The timed loop: scan and parse every row, count the calls.
#[inline]
fn parse_all(p: &Prepared, tz: &TimeZone, numbering: &Numbering) -> u64 {
    let mut zone = ZoneCache::new(tz.clone());
    let mut s = Scanner::new(p.body(), p.first_line, MAX_LINE, p.format.delimiter());
    let mut f = Fields::default();
    let mut ok = 0u64;
    while let Some(r) = s.next_record(&mut f) {
        let mut cx = ParseContext { zone: &mut zone, numbering };
        ok += u64::from(p.parser.parse(&r, &f, &mut cx).is_ok());
    }
    ok
}

/// Not timed: every row parses, to the same call as its generic row.
fn check(p: &Prepared, tz: &TimeZone, numbering: &Numbering, calls: &[Gen]) {
    let name = p.format.name;
    assert_eq!(parse_all(p, tz, numbering), ROWS, "{name}: every row parses");
    let mut zone = ZoneCache::new(tz.clone());
    let mut s = Scanner::new(p.body(), p.first_line, MAX_LINE, p.format.delimiter());
    let mut f = Fields::default();
    let mut n = 0;
    while let Some(r) = s.next_record(&mut f) {
        let mut cx = ParseContext { zone: &mut zone, numbering };
        let c = p.parser.parse(&r, &f, &mut cx).unwrap();
        let g = &calls[n];
        let want: Number = numbering.normalise(g.callee.as_bytes()).unwrap();
        assert_eq!(c.start.epoch_seconds(), g.start, "{name} line {}: start", r.line);
        assert_eq!(c.billsec, g.billsec, "{name} line {}: billsec", r.line);
        assert_eq!(unquote(c.caller), g.caller.as_bytes(), "{name} line {}: caller", r.line);
        assert_eq!(c.number, want, "{name} line {}: number", r.line);
        // Every switch format writes the answer time (empty when unanswered); generic rows here do not.
        if name != FormatName::Generic {
            assert_eq!(c.answer.map(|a| a.epoch_seconds()), g.answer(), "{name} line {}: answer", r.line);
        }
        if !matches!(name, FormatName::ThreeCx | FormatName::Cucm) {
            assert_eq!(c.account, g.account.as_bytes(), "{name} line {}: account", r.line);
        }
        n += 1;
    }
    assert_eq!(n as u64, ROWS);
}

fn benches(c: &mut Criterion) {
    let tz = TimeZone::get(ZONE).unwrap();
    let numbering = Numbering::default();
    let (generic, calls) = generic_rows(&tz, &numbering);
    let plain = FormatOptions::default();
    let files = [
        prepare(FormatName::Generic, &plain, generic),
        prepare(FormatName::Asterisk, &plain, asterisk(&calls, &tz)),
        prepare(FormatName::Freeswitch, &plain, freeswitch(&calls, &tz)),
        prepare(FormatName::ThreeCx, &plain, threecx(&calls, &tz)),
        prepare(FormatName::Cucm, &plain, cucm(&calls)),
        prepare(FormatName::Custom, &custom_options(), custom_rows(&calls, &tz)),
    ];
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(ROWS));
    for p in &files {
        // Local times are in the layout's zone when it names one, as in the pipeline.
        let tz = p.format.timezone().unwrap_or_else(|| tz.clone());
        check(p, &tz, &numbering, &calls);
        eprintln!("{}: {} bytes of rows, {} per row", p.format, p.body().len(), p.body().len() as u64 / ROWS);
        g.bench_function(p.format.name.as_str(), |b| b.iter(|| parse_all(black_box(p), &tz, &numbering)));
    }
    g.finish();
    // Each format's control: generic rows of the same shape (see `same_shape`).
    let mut g = c.benchmark_group("generic_same_shape");
    g.throughput(Throughput::Elements(ROWS));
    for p in &files[1..] {
        let control = prepare(FormatName::Generic, &plain, same_shape(p, &files[0]));
        check(&control, &tz, &numbering, &calls);
        eprintln!(
            "generic shaped as {}: {} bytes of rows, {} per row",
            p.format,
            control.body().len(),
            control.body().len() as u64 / ROWS
        );
        g.bench_function(p.format.name.as_str(), |b| b.iter(|| parse_all(black_box(&control), &tz, &numbering)));
    }
    g.finish();
}

criterion_group!(formats, benches);
criterion_main!(formats);
