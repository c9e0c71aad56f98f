//! The Json hub protocol: framing, parsing and re-encoding of arbitrary client bytes.
#![no_main]

use signalr_emulator::protocol::Protocol;

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalr_emulator_fuzz::hub_protocol(
    Protocol::Json,
    data
));
