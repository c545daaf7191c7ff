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
    /// alert is never logged twice).
    pub fn logged_ids(&self) -> io::Result<HashSet<String>> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(e),
        };
        let mut ids = HashSet::new();
        for line in io::BufReader::new(file).lines() {
            if let Ok(a) = serde_json::from_str::<Alert>(&line?) {
                ids.insert(a.alert_id);
            }
        }
        Ok(ids)
    }

    /// Appends alerts as JSON lines and fsyncs.
    pub fn append(&self, alerts: &[Alert]) -> io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let created = !self.path.exists();
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let mut text = Vec::new();
        for a in alerts {
            serde_json::to_writer(&mut text, a).map_err(io::Error::other)?;
            text.push(b'\n');
        }
        file.write_all(&text)?;
        file.sync_all()?;
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
