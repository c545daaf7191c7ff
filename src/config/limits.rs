//! `[limits]`: kept in a file of its own so `config.rs` stays one job
//! (reading and validating the file) under the size rule.

use serde::Deserialize;

/// `[limits]`: what a row may be before it is rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest record in bytes; longer rows are rejected as `line_too_long`.
    pub max_line_bytes: usize,
    /// Most fields a record may have; more are rejected as `too_many_fields`.
    pub max_fields: usize,
    /// Longest answered duration in seconds; longer calls are rejected as
    /// `billsec_too_long` (not billed until someone looks).
    pub max_billsec: u32,
    /// Calls starting more than this many seconds after now are rated and
    /// flagged `start_in_future` (and count for IDS on the day they are rated).
    pub flag_future_start_seconds: u32,
    /// Calls starting more than this many days before now are rated and
    /// flagged `start_in_past`.
    pub flag_past_start_days: u32,
    /// Most bytes a compressed drop may expand to; beyond, it goes to `failed/`.
    pub max_decompressed_bytes: u64,
    /// Most decompressed bytes per compressed byte (past the first 16 MiB);
    /// beyond, the drop is taken for a compression bomb and goes to `failed/`.
    pub max_compression_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 64 * 1024,
            max_fields: 256,
            max_billsec: 86_400,
            flag_future_start_seconds: 86_400,
            flag_past_start_days: 400,
            max_decompressed_bytes: 16 << 30,
            max_compression_ratio: 200,
        }
    }
}

impl Limits {
    /// The row limits of a file rated at `now`.
    pub fn rows(&self, now: jiff::Timestamp) -> crate::totals::RowLimits {
        let now = now.as_second();
        crate::totals::RowLimits {
            max_line_bytes: self.max_line_bytes,
            max_fields: self.max_fields,
            max_billsec: self.max_billsec,
            now,
            earliest_start: now - i64::from(self.flag_past_start_days) * 86_400,
            latest_start: now + i64::from(self.flag_future_start_seconds),
        }
    }
}
