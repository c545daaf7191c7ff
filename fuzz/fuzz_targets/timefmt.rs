#![no_main]
//! Fuzz target `timefmt`: see `checks::check_timefmt` (shared with tests/fuzz_replay.rs).

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_timefmt(data));
