#![no_main]
//! Fuzz target `numbers`: see `checks::check_numbers` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_numbers(data));
