#![no_main]
//! Fuzz target `csv_scan`: see `checks::check_csv_scan` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_csv_scan(data));
