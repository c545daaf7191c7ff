//! Criterion benchmarks of the hot path: prefix lookup on a 60k-prefix deck,
//! pricing one call, parsing rows, and rating a 100k-row file in memory.
//!
//! `cargo bench --bench rating`; figures are quoted in README.md.

use std::hint::black_box;
use std::path::Path;

use cdr_rater::csvscan::{Fields, Scanner};
use cdr_rater::formats::{Format, FormatName, ParseContext, Parser, RowParser};
use cdr_rater::generate;
use cdr_rater::numbers::Numbering;
use cdr_rater::pipeline::{rate_buffer, BufferPool, Job, MemorySink};
use cdr_rater::rating::Rater;
use cdr_rater::tariff::{self, Tariff};
use cdr_rater::timefmt::ZoneCache;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// The shipped tables with the wholesale deck grown to 60,000 prefixes.
fn deck_60k() -> (tempfile::TempDir, Tariff) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (shipped, _) = tariff::load(&repo.join("rates"), "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap())
        .expect("shipped rates load");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plans")).unwrap();
    let mut f = std::fs::File::create(dir.path().join("wholesale.csv")).unwrap();
    generate::write_deck(&shipped, 60_000, 7, &mut f).unwrap();
    for name in ["customers.csv", "numbers.csv"] {
        std::fs::copy(repo.join("rates").join(name), dir.path().join(name)).unwrap();
    }
    for e in std::fs::read_dir(repo.join("rates/plans")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join("plans").join(e.file_name())).unwrap();
    }
    let (t, _) =
        tariff::load(dir.path(), "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()).expect("60k deck loads");
    assert_eq!(t.prefix_count(), 60_000);
    (dir, t)
}

fn cdrs(t: &Tariff, rows: u64) -> Vec<u8> {
    let mut v = Vec::new();
    generate::write_cdrs(t, rows, 42, &mut v).unwrap();
    v
}

fn benches(c: &mut Criterion) {
    let (_dir, t) = deck_60k();
    let numbering = Numbering::default();

    // Numbers drawn uniformly from the whole deck: the cache-hostile case.
    let mut rng = generate::Rng::new(3);
    let numbers: Vec<Vec<u8>> = (0..4096)
        .map(|_| {
            let dests = &t.latest().deck.destinations;
            let d = &dests[rng.below(dests.len() as u64) as usize];
            let mut n = d.prefix.clone().into_bytes();
            while n.len() < 11 {
                n.push(b'0' + rng.below(10) as u8);
            }
            n
        })
        .collect();
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(numbers.len() as u64));
    g.bench_function("longest_prefix_60k_uniform", |b| {
        b.iter(|| numbers.iter().map(|n| t.latest().deck.destination(black_box(n)).unwrap_or(0) as u64).sum::<u64>())
    });
    g.finish();

    // Parse and price pre-generated rows.
    let input = cdrs(&t, 20_000);
    let header_end = input.iter().position(|&b| b == b'\n').unwrap() + 1;
    let body = &input[header_end..];
    let mut fields = Fields::default();
    let header = {
        let mut s = Scanner::new(&input, 1, 1 << 16, b',');
        let r = s.next_record(&mut fields).unwrap();
        let names: Vec<&[u8]> = (0..fields.len()).map(|i| fields.get(r.raw, i)).collect();
        Parser::new(&Format::plain(FormatName::Generic).unwrap(), &[names]).unwrap()
    };
    let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap();
    let rows = body.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut g = c.benchmark_group("row");
    g.throughput(Throughput::Elements(rows));
    g.bench_function("scan_and_parse_generic", |b| {
        b.iter(|| {
            let mut zone = ZoneCache::new(tz.clone());
            let mut s = Scanner::new(body, 2, 1 << 16, b',');
            let mut f = Fields::default();
            let mut ok = 0u64;
            while let Some(r) = s.next_record(&mut f) {
                let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
                ok += u64::from(header.parse(&r, &f, &mut cx).is_ok());
            }
            ok
        })
    });
    // Pricing alone: parse once, then rate the parsed calls.
    let rater = Rater { tariff: &t, numbering: &numbering, decimals: 4, default_customer: None };
    let mut zone = ZoneCache::new(tz.clone());
    let mut s = Scanner::new(body, 2, 1 << 16, b',');
    let mut calls = Vec::new();
    let mut f = Fields::default();
    while let Some(r) = s.next_record(&mut f) {
        let mut cx = ParseContext { zone: &mut zone, numbering: &numbering };
        if let Ok(call) = header.parse(&r, &f, &mut cx) {
            calls.push(call);
        }
    }
    g.throughput(Throughput::Elements(calls.len() as u64));
    g.bench_function("price_call", |b| {
        let mut scratch =
            cdr_rater::rating::RateScratch::new(&t, &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
        b.iter(|| calls.iter().map(|c| rater.rate(black_box(c), &mut scratch).map_or(0, |p| p.sell)).sum::<u64>())
    });
    g.finish();

    // A whole 100k-row file through the parallel pipeline into memory.
    let file = cdrs(&t, 100_000);
    let mut g = c.benchmark_group("file");
    g.throughput(Throughput::Elements(100_000));
    g.sample_size(20);
    let buffers = BufferPool::default(); // kept across iterations, as a daemon worker would
    g.bench_function("rate_100k_rows_in_memory", |b| {
        b.iter_batched(
            MemorySink::default,
            |mut sink| {
                let job = Job {
                    name: "bench.csv".into(),
                    format: Format::plain(FormatName::Generic).unwrap(),
                    rater,
                    timezone: tz.clone(),
                    limits: cdr_rater::config::Limits::default().rows(jiff::Timestamp::now()),
                    chunk_bytes: cdr_rater::pipeline::CHUNK_BYTES,
                    cancel: None,
                    ids: false,
                    usage: false,
                    fraud: None,
                    pool: Some(&buffers),
                };
                rate_buffer(&file, &job, &mut sink).unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(rating, benches);
criterion_main!(rating);
