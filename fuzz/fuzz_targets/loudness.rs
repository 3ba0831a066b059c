#![no_main]
//! The loudness path of the analysis (spectral loudness, the true-peak planner
//! decoding PCM on demand, and Ogg Opus through libopus) on hostile audio.
use libfuzzer_sys::fuzz_target;
use skypod_feeds::silence::{Measure, SilenceParams, analyze_reader_measuring};

static HOOK: std::sync::Once = std::sync::Once::new();

const HINTS: [Option<&str>; 5] = [Some("mp3"), Some("m4a"), Some("ogg"), Some("opus"), None];

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&selector, audio)) = data.split_first() else {
        return;
    };
    let hint = HINTS[usize::from(selector) % HINTS.len()];
    let _ = analyze_reader_measuring(
        std::io::Cursor::new(audio.to_vec()),
        hint,
        SilenceParams::default(),
        Measure { loudness: true },
    );
});
