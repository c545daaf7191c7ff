//! IDS alert sinks: the JSON-lines alert log (appended and fsynced before the
//! file that raised the alerts is marked done), a warning log line, a
//! metric, and an optional command hook that never blocks rating.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ids::Alert;

/// Where alerts go.
#[derive(Debug, Clone)]
pub struct AlertLog {
    /// The JSON-lines file.
    pub path: PathBuf,
    /// Command run per alert with the alert JSON on stdin (`[ids] on_alert`).
    pub hook: Vec<String>,
    /// How long the hook may run before it is killed.
    pub hook_timeout: Duration,
}

impl AlertLog {
    /// Alert ids already in the log (read on a redo after a crash, so an
    /// alert is never logged twice). Only complete lines count: a torn tail
    /// left by a crash is removed by the next [`AlertLog::append`], so its
    /// alert must be written again.
    pub fn logged_ids(&self) -> io::Result<HashSet<String>> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(e),
        };
        let mut ids = HashSet::new();
        let mut reader = io::BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
                break;
            }
            if let Ok(a) = serde_json::from_slice::<Alert>(&line) {
                ids.insert(a.alert_id);
            }
        }
        Ok(ids)
    }

    /// Appends alerts as JSON lines and fsyncs. All or nothing: on a failed
    /// write or fsync (a full disk) the file is cut back to its length
    /// before, so it never holds a torn line, and the error is returned for
    /// the caller to retry. A torn tail left by a crash is cut off first.
    /// Appenders (threads or processes) are serialised by an exclusive
    /// `flock`, so the length noted is still the end when it is restored.
    pub fn append(&self, alerts: &[Alert]) -> io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut text = Vec::new();
        for a in alerts {
            serde_json::to_writer(&mut text, a).map_err(io::Error::other)?;
            text.push(b'\n');
        }
        let created = !self.path.exists();
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&self.path)?;
        lock_exclusive(&file)?;
        let len = complete_length(&file)?;
        if len != file.metadata()?.len() {
            file.set_len(len)?;
        }
        let written = file.write_all(&text).and_then(|()| file.sync_all());
        if let Err(e) = written {
            // Best effort: if this fails too, the torn tail is cut off by
            // the next append, and its alerts are not in `logged_ids`.
            let _ = file.set_len(len).and_then(|()| file.sync_all());
            return Err(e);
        }
        if created {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::output::sync_dir(dir)?;
            }
        }
        Ok(())
    }

    /// Tells the operator: a warning, a metric, and the hook in the background.
    pub fn announce(&self, alert: &Alert) {
        crate::telemetry::emit(&crate::telemetry::Event::IdsAlert { alert });
        if let Some((program, args)) = self.hook.split_first() {
            let mut json = serde_json::to_string(alert).unwrap_or_default();
            json.push('\n');
            let (program, args, timeout) = (program.clone(), args.to_vec(), self.hook_timeout);
            std::thread::spawn(move || run_hook(&program, &args, &json, timeout));
        }
    }
}

/// Takes an exclusive `flock` on `file`, released when it is closed.
fn lock_exclusive(file: &fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The length of the file's complete lines: up to and including its last
/// `\n` (0 when it has none).
fn complete_length(file: &fs::File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut end = file.metadata()?.len();
    let mut buf = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn run_hook(program: &str, args: &[String], json: &str, timeout: Duration) {
    let spawned =
        Command::new(program).args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return tracing::error!(hook = %program, error = %e, "alert hook did not start"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(json.as_bytes());
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return,
            Ok(Some(status)) => return tracing::error!(hook = %program, %status, "alert hook failed"),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return tracing::error!(hook = %program, "alert hook timed out and was killed");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return tracing::error!(hook = %program, error = %e, "alert hook"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str) -> Alert {
        serde_json::from_value(serde_json::json!({
            "type": "ids_threshold", "alert_id": id, "customer_id": "C1", "customer_name": "n",
            "day": "2026-11-25", "spend": "1", "baseline": "0", "range": "1", "threshold": "1",
            "level_threshold": "1", "level": 1, "currency": "EUR", "calls": 1,
            "trigger_call_id": "x", "file": "f", "top_destinations": [],
            "emitted_at": "2026-11-25T00:00:00Z", "warm_up": false, "late": false
        }))
        .unwrap()
    }

    fn log(dir: &std::path::Path) -> AlertLog {
        AlertLog { path: dir.join("a.jsonl"), hook: Vec::new(), hook_timeout: Duration::from_secs(1) }
    }

    #[test]
    fn a_torn_tail_is_not_logged_and_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        log.append(&[alert("A")]).unwrap();
        // A crash mid-write: the whole JSON of B, but not its newline.
        let mut torn = serde_json::to_vec(&alert("B")).unwrap();
        OpenOptions::new().append(true).open(&log.path).unwrap().write_all(&torn).unwrap();
        assert_eq!(log.logged_ids().unwrap(), HashSet::from(["A".to_string()]));
        log.append(&[alert("B")]).unwrap();
        let text = fs::read_to_string(&log.path).unwrap();
        let ids: Vec<String> = text.lines().map(|l| serde_json::from_str::<Alert>(l).unwrap().alert_id).collect();
        assert_eq!(ids, ["A", "B"]);
        assert!(text.ends_with('\n'));
        // A torn first line (no newline at all) is cut to nothing.
        torn.truncate(10);
        fs::write(&log.path, &torn).unwrap();
        assert!(log.logged_ids().unwrap().is_empty());
        log.append(&[alert("C")]).unwrap();
        assert_eq!(log.logged_ids().unwrap(), HashSet::from(["C".to_string()]));
        assert_eq!(fs::read_to_string(&log.path).unwrap().lines().count(), 1);
    }
}
