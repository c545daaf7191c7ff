#![no_main]
//! Fuzz target `tariff_files`: see `checks::check_tariff_files` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_tariff_files(data));
