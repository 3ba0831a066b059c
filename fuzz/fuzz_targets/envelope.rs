//! Any bytes as a frame: parsing the envelope and every payload type must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::*;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(env) = RawEnvelope::parse(text) {
        let _ = env.dat::<TokenRequest>();
        let _ = env.dat::<BroadcastRequest>();
        let _ = env.dat::<SignalRequest>();
        let _ = env.dat::<Ping>();
        let _ = env.dat::<AuthnResponse>();
    }
});
