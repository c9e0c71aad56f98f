//! The client's handshake request: parsing and protocol agreement.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalr_emulator_fuzz::handshake(data));
