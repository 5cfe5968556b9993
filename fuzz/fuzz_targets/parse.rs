//! `Model::parse` on arbitrary bytes: it must return (never panic, never read out of
//! bounds), and a model it accepts must answer every accessor consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As given: exercises the identity, size and checksum checks.
    let raw = mynah_fuzz::aligned(data);
    mynah_fuzz::check_parse(&raw);
    // With a valid size field and CRC: exercises everything behind the checksum.
    let fixed = mynah_fuzz::with_valid_trailer(data);
    mynah_fuzz::check_parse(&fixed);
});
