#![no_main]
//! Fuzz target `e2e`: see `checks::check_e2e` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_e2e(data));
