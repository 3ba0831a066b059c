#![no_main]
//! Silence analysis of hostile audio: any bytes, read as a stream with any of
//! the supported container hints, must give Ok or Err, never a crash or a hang.
//! This runs the patched decoders' power path (vendor/README.md) as the server
//! does.
//!
//! `analyze_reader` catches decoder panics and turns them into errors, so the
//! panic hook is silenced as in `parse_feed`: a panic that escapes still aborts.
use libfuzzer_sys::fuzz_target;
use skypod_feeds::silence::{SilenceParams, analyze_reader};

static HOOK: std::sync::Once = std::sync::Once::new();

const HINTS: [Option<&str>; 7] = [
    Some("mp3"),
    Some("m4a"),
    Some("ogg"),
    Some("flac"),
    Some("wav"),
    None,
    Some("webm"),
];

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&selector, audio)) = data.split_first() else {
        return;
    };
    let hint = HINTS[usize::from(selector) % HINTS.len()];
    let _ = analyze_reader(
        std::io::Cursor::new(audio.to_vec()),
        hint,
        SilenceParams::default(),
    );
});
