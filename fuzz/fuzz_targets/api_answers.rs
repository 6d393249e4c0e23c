#![no_main]
// The target calls the same function tests/fuzz_corpora.rs replays the saved inputs through.
libfuzzer_sys::fuzz_target!(|data: &[u8]| kinit_phases::fuzzing::api_answers(data));
