//! The ServiceProtocol codec (`/server`): framing and parsing of arbitrary app-server bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalr_emulator_fuzz::service_protocol(data));
