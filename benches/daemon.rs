//! Daemon benchmarks against a real `cdr-rater run` process:
//!
//! - `latency/rename_to_published_10k_rows`: from the rename of a 10k-row
//!   file into `incoming/` to its rated file being published;
//! - `throughput/daemon_10x100k_rows` vs `throughput/batch_rate_10x100k_rows`:
//!   a stream of ten 100k-row files through the daemon, and the same files
//!   through one `cdr-rater rate` run.
//!
//! `cargo bench --bench daemon`; figures are quoted in README.md.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdr_rater::generate;
use cdr_rater::tariff;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
    seq: u64,
}

impl Daemon {
    fn start(rates: &Path, ids: bool) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        fs::write(
            dir.path().join("cdr-rater.toml"),
            format!(
                "rates = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n[ids]\nenabled = {ids}\n",
                rates.display()
            ),
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("staging")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
            .current_dir(dir.path())
            .args(["run", "--allow-root", "--config", "cdr-rater.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { dir, child, seq: 0 }
    }

    /// Stages `content` (with unique call ids, so it is never a duplicate).
    fn stage(&mut self, content: &[u8]) -> String {
        self.seq += 1;
        let name = format!("f{:06}.csv", self.seq);
        let mut unique = content.to_vec();
        unique.extend_from_slice(format!("u{},2026-11-24T10:00:00Z,C0001,+31201234567,201,0,\n", self.seq).as_bytes());
        let path = self.dir.path().join("staging").join(&name);
        fs::write(&path, unique).unwrap();
        // On disk before the clock starts: only the daemon's own writes are timed.
        fs::File::open(&path).unwrap().sync_all().unwrap();
        name
    }

    fn drop_staged(&self, name: &str) {
        fs::rename(self.dir.path().join("staging").join(name), self.dir.path().join("spool/incoming").join(name))
            .unwrap();
    }

    fn published(&self, name: &str) -> PathBuf {
        self.dir.path().join("spool/rated").join(format!("{}.rated.csv", name.trim_end_matches(".csv")))
    }

    fn archived(&self, name: &str) -> bool {
        self.dir.path().join("spool/archive").join(name).exists()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every `every` (fine for latency, coarse for throughput so
/// the poller does not take CPU from the daemon).
fn wait(every: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(120), "timed out");
        std::thread::sleep(every);
    }
}

fn benches(c: &mut Criterion) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (shipped, _) =
        tariff::load(&repo.join("rates"), "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()).unwrap();
    let deck = tempfile::tempdir().unwrap();
    let rates = deck.path().join("rates");
    fs::create_dir_all(rates.join("plans")).unwrap();
    generate::write_deck(&shipped, 60_000, 7, &mut fs::File::create(rates.join("wholesale.csv")).unwrap()).unwrap();
    for name in ["customers.csv", "numbers.csv"] {
        fs::copy(repo.join("rates").join(name), rates.join(name)).unwrap();
    }
    for e in fs::read_dir(repo.join("rates/plans")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), rates.join("plans").join(e.file_name())).unwrap();
    }
    // A second rates folder whose customers' IDS ranges are so wide that the
    // traffic never crosses them: IDS bookkeeping without alerts (normal
    // operation). The first one, with the shipped ranges, is a runaway: the
    // generated traffic crosses new levels in nearly every file.
    let quiet = deck.path().join("rates-quiet");
    fs::create_dir_all(quiet.join("plans")).unwrap();
    for e in fs::read_dir(&rates).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), quiet.join(e.file_name())).unwrap();
        }
    }
    for e in fs::read_dir(rates.join("plans")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), quiet.join("plans").join(e.file_name())).unwrap();
    }
    let customers = fs::read_to_string(rates.join("customers.csv")).unwrap();
    let mut wide = csv::Writer::from_writer(Vec::new());
    for (i, rec) in csv::Reader::from_reader(customers.as_bytes()).records().enumerate() {
        let rec = rec.unwrap();
        if i == 0 {
            wide.write_record(["customer_id", "name", "email", "plan", "ids_range", "timezone"]).unwrap();
        }
        wide.write_record([&rec[0], &rec[1], &rec[2], &rec[3], "1000000.00", &rec[5]]).unwrap();
    }
    fs::write(quiet.join("customers.csv"), wide.into_inner().unwrap()).unwrap();
    let (t, _) = tariff::load(&rates, "NL", &jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap()).unwrap();
    let mut small = Vec::new();
    generate::write_cdrs(&t, 10_000, 1, &mut small).unwrap();
    let mut big = Vec::new();
    generate::write_cdrs(&t, 100_000, 2, &mut big).unwrap();

    let mut daemon = Daemon::start(&rates, true);
    let mut g = c.benchmark_group("latency");
    g.sample_size(30);
    g.bench_function("rename_to_published_10k_rows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let name = daemon.stage(&small);
                let started = Instant::now();
                daemon.drop_staged(&name);
                wait(Duration::from_micros(200), || daemon.published(&name).exists());
                total += started.elapsed();
                wait(Duration::from_millis(2), || daemon.archived(&name));
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("throughput");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10 * 100_001));
    let stream = |daemon: &mut Daemon, iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let names: Vec<String> = (0..10).map(|_| daemon.stage(&big)).collect();
            let started = Instant::now();
            for n in &names {
                daemon.drop_staged(n);
            }
            wait(Duration::from_millis(5), || names.iter().all(|n| daemon.archived(n)));
            total += started.elapsed();
        }
        total
    };
    // IDS on (the default) with the shipped ranges: a runaway, alerts in nearly every file.
    g.bench_function("daemon_ids_runaway_10x100k_rows", |b| b.iter_custom(|iters| stream(&mut daemon, iters)));
    drop(daemon);
    // IDS on, normal operation: spend tracked, no range crossed.
    let mut quiet_daemon = Daemon::start(&quiet, true);
    g.bench_function("daemon_10x100k_rows", |b| b.iter_custom(|iters| stream(&mut quiet_daemon, iters)));
    drop(quiet_daemon);
    let mut no_ids = Daemon::start(&rates, false);
    g.bench_function("daemon_ids_off_10x100k_rows", |b| b.iter_custom(|iters| stream(&mut no_ids, iters)));
    drop(no_ids);
    let batch_dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..10)
        .map(|i| {
            let p = batch_dir.path().join(format!("b{i}.csv"));
            fs::write(&p, &big).unwrap();
            p
        })
        .collect();
    g.bench_function("batch_rate_10x100k_rows", |b| {
        b.iter(|| {
            let out = batch_dir.path().join("out");
            let _ = fs::remove_dir_all(&out);
            let status = Command::new(env!("CARGO_BIN_EXE_cdr-rater"))
                .arg("rate")
                .arg("--rates")
                .arg(&rates)
                .arg("--out")
                .arg(&out)
                .args(&files)
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        })
    });
    g.finish();
}

criterion_group!(daemon, benches);
criterion_main!(daemon);
