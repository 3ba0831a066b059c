//! Any sequence of frames into a fragment reassembler: never a panic, limits always hold,
//! and nothing is buffered once everything has expired.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skypod_protocol::fragment::{ReassemblyLimits, Reassembler};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let limits = ReassemblyLimits {
        max_message: 4096,
        max_partials: 4,
        max_buffered: 8192,
        timeout: Duration::from_millis(100),
    };
    let mut r = Reassembler::new(limits);
    let t0 = Instant::now();
    // Frames separated by 0xff; each one 1 ms later than the previous.
    for (i, frame) in data.split(|b| *b == 0xff).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        if let Ok(Some(m)) = r.push(now, frame) {
            assert!(m.len() <= 4096);
        }
        assert!(r.buffered() <= 8192 && r.in_flight() <= 4);
    }
    r.expire(t0 + Duration::from_secs(3600));
    assert_eq!(r.buffered(), 0);
});
