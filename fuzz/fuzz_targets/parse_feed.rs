#![no_main]
//! Feed parser entry point: any bytes must give Ok or Err, never a panic/hang.
//!
//! `parse_feed` deliberately catches panics inside feed-rs (known upstream
//! unwraps, e.g. on overflowing `itunes:duration`) and turns them into errors.
//! libfuzzer-sys's panic hook would abort on those caught panics, so it is
//! replaced by a silent one: a panic that escapes `parse_feed` still aborts
//! (it cannot unwind through the fuzzer's C frames) and is reported as a crash.
use libfuzzer_sys::fuzz_target;

static HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = skypod_feeds::parse::parse_feed(data, Some("https://fuzz.example/feed.xml"));
});
