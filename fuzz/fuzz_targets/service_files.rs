#![no_main]
//! Fuzz target `service_files`: see `checks::check_service_files` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_service_files(data));
