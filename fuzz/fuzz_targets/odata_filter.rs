//! The OData filter of `:execute`: parsing, type checking and evaluation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalr_emulator_fuzz::odata_filter(data));
