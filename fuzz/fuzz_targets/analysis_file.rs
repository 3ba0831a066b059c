#![no_main]
//! The analysis exactly as `/proxy/silence` runs it on a cached body: a seekable
//! file (`analyze_path`), so the MP4 edit-list walker (`mp4_priming_secs`) and
//! the container readers' seeking paths (an MP4 `moov` after its media data)
//! see hostile bytes too, with loudness off or on. `silence` and `loudness`
//! feed the same decoders through a non-seekable stream.
use libfuzzer_sys::fuzz_target;
use skypod_feeds::silence::{Measure, SilenceParams, analyze_path};

static HOOK: std::sync::Once = std::sync::Once::new();

const HINTS: [Option<&str>; 6] = [
    Some("mp3"),
    Some("m4a"),
    Some("ogg"),
    Some("opus"),
    Some("webm"),
    None,
];

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&selector, audio)) = data.split_first() else {
        return;
    };
    let hint = HINTS[usize::from(selector >> 1) % HINTS.len()];
    let measure = Measure {
        loudness: selector & 1 == 1,
    };
    // One file per process, rewritten for every input (the proxy's cache hands
    // the analysis a file path).
    let path = std::env::temp_dir().join(format!("skypod-fuzz-analysis-{}", std::process::id()));
    if std::fs::write(&path, audio).is_err() {
        return;
    }
    let _ = analyze_path(&path, hint, SilenceParams::default(), measure);
});
