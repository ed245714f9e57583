#![no_main]
// TODO: filled in by the issue 2 work.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
