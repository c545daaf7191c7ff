//! The recent end of the alert log, read backwards from its end: the
//! dashboard wants the last 24 hours of a file that only grows, so the cost
//! is that of the alerts asked for, not of the file. Every alert type is
//! kept as logged (a JSON object with at least `type` and `emitted_at`), so
//! alerts of rules added later show up without a change here.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Bytes read per step backwards.
const BLOCK: usize = 256 * 1024;
/// Lines are appended in about the order of `emitted_at`, not exactly (two
/// workers append in turn): reading stops at the first alert older than
/// `since` by more than this.
const SLACK_SECONDS: i64 = 3600;

/// One alert as logged: what every alert has, and the line itself (a
/// JSON object, checked), read in full only for the few shown in detail.
#[derive(Debug, Clone)]
pub struct LoggedAlert {
    /// Unix seconds of `emitted_at`.
    pub emitted_at: i64,
    /// `type`: `ids_threshold`, or a fraud rule's.
    pub kind: String,
    /// The line as logged (valid JSON).
    pub line: Box<str>,
}

impl LoggedAlert {
    /// The whole record.
    pub fn record(&self) -> Map<String, Value> {
        serde_json::from_str(&self.line).unwrap_or_default()
    }
}

/// What is read of every line: the rest is skipped, not built.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    emitted_at: std::borrow::Cow<'a, str>,
}

/// The alerts emitted at or after a time.
#[derive(Debug, Default)]
pub struct Tail {
    /// Oldest first (log order).
    pub alerts: Vec<LoggedAlert>,
    /// More alerts match than were kept (the newest `max` are).
    pub truncated: bool,
}

/// Alerts of the log at `path` emitted at or after unix second `since`,
/// at most the newest `max`. A missing log has none; a torn last line (an
/// append in progress) and lines that are not alerts are passed over.
pub fn read_since(path: &Path, since: i64, max: usize) -> io::Result<Tail> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Tail::default()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut newest_first = Vec::new();
    let mut truncated = false;
    // `pos`: where the unread part ends; `carry`: a line cut by the block
    // boundary, completed by the next block back.
    let mut pos = len;
    let mut carry: Vec<u8> = Vec::new();
    let mut at_end = true;
    'blocks: while pos > 0 {
        let start = pos.saturating_sub(BLOCK as u64);
        let mut block = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        pos = start;
        let mut lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
        // At the end of the file, the piece after the last newline is empty
        // or a torn line (an append in progress). Further back, the last
        // piece ends where the carried part did: at a newline, complete.
        if at_end {
            lines.pop();
            at_end = false;
        }
        carry = if pos > 0 && !lines.is_empty() { lines.remove(0).to_vec() } else { Vec::new() };
        for line in lines.into_iter().rev() {
            let Some(alert) = parse(line) else { continue };
            if alert.emitted_at < since - SLACK_SECONDS {
                break 'blocks;
            }
            if alert.emitted_at >= since {
                if newest_first.len() == max {
                    truncated = true;
                    break 'blocks;
                }
                newest_first.push(alert);
            }
        }
    }
    newest_first.reverse();
    Ok(Tail { alerts: newest_first, truncated })
}

/// One line as an alert: a JSON object with a `type` and an RFC 3339 `emitted_at`.
fn parse(line: &[u8]) -> Option<LoggedAlert> {
    let text = std::str::from_utf8(line).ok()?;
    let head: Head<'_> = serde_json::from_str(text).ok()?;
    let at: jiff::Timestamp = head.emitted_at.parse().ok()?;
    Some(LoggedAlert { emitted_at: at.as_second(), kind: head.kind.into_owned(), line: text.into() })
}

/// `{"since":…,"truncated":…,"alerts":[…]}` with the lines as logged.
pub fn to_json(since: &str, tail: &Tail) -> String {
    let mut out = String::with_capacity(64 + tail.alerts.iter().map(|a| a.line.len() + 1).sum::<usize>());
    out.push_str("{\"since\":");
    out.push_str(&Value::from(since).to_string());
    out.push_str(if tail.truncated { ",\"truncated\":true" } else { ",\"truncated\":false" });
    out.push_str(",\"alerts\":[");
    for (i, a) in tail.alerts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&a.line);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, at: &str, n: usize) -> String {
        format!(
            "{{\"type\":\"{kind}\",\"customer_id\":\"C{n}\",\"emitted_at\":\"{at}\",\"pad\":\"{}\"}}\n",
            "x".repeat(n % 700)
        )
    }

    #[test]
    fn reads_back_to_since_across_blocks_and_skips_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let mut text = String::new();
        // 2,000 old alerts (more than a block), then 1,500 recent ones.
        for n in 0..2000 {
            text.push_str(&line("ids_threshold", "2026-11-20T10:00:00Z", n));
        }
        text.push_str("not json\n");
        for n in 0..1500 {
            let kind = if n % 2 == 0 { "ids_threshold" } else { "velocity_calls" };
            text.push_str(&line(kind, "2026-11-24T10:00:00Z", n));
        }
        text.push_str("{\"type\":\"call_cost\",\"emitted_at\":\"2026-11-24T11:00");
        std::fs::write(&path, &text).unwrap();
        let since = "2026-11-24T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
        let tail = read_since(&path, since, 10_000).unwrap();
        assert_eq!(tail.alerts.len(), 1500);
        assert!(!tail.truncated);
        assert_eq!(tail.alerts[0].record()["customer_id"], "C0");
        assert_eq!(tail.alerts[1499].record()["customer_id"], "C1499");
        assert_eq!(tail.alerts[1].kind, "velocity_calls");
        let capped = read_since(&path, since, 100).unwrap();
        assert!(capped.truncated);
        assert_eq!(capped.alerts.len(), 100);
        assert_eq!(capped.alerts[99].record()["customer_id"], "C1499");
        let json: Value = serde_json::from_str(&to_json("2026-11-24T00:00:00Z", &capped)).unwrap();
        assert_eq!(json["alerts"].as_array().unwrap().len(), 100);
        assert_eq!(json["truncated"], true);
        assert_eq!(json["alerts"][0]["customer_id"], "C1400");
        let all = read_since(&path, 0, 10_000).unwrap();
        assert_eq!(all.alerts.len(), 3500);
        assert!(read_since(&dir.path().join("none"), 0, 10).unwrap().alerts.is_empty());
    }
}
