//! Access tokens: parsing and verification in every auth mode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalr_emulator_fuzz::token(data));
