#![no_main]
//! Fuzz target `format_custom`: see `checks::check_format_custom` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_format_custom(data));
