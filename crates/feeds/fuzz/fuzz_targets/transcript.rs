#![no_main]
//! Transcript parsing (WebVTT, SRT, JSON, HTML) of hostile bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skypod_feeds::transcript::parse(data);
});
