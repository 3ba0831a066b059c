#![no_main]
//! Feed parser entry point: any bytes must give Ok or Err, never a panic/hang.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skypod_feeds::parse::parse_feed(data, Some("https://fuzz.example/feed.xml"));
});
