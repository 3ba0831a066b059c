//! `silence_cli [--pcm|--loudness] FILE...` — prints one JSON line per file with the
//! silence map and the wall time of the analysis, best of `REPEAT` runs (env,
//! default 1; used by bench/feeds/run.sh). `--pcm` measures MP3 on decoded PCM
//! instead of the sub-band signals (the A/B of docs/benchmarks-feeds.md);
//! `--loudness` also measures EBU R128 loudness in the same pass (what
//! `/proxy/silence?loudness=true` runs).

use std::time::Instant;

use skypod_feeds::error::FeedError;
use skypod_feeds::silence::{
    Measure, SilenceMap, SilenceParams, analyze_file, analyze_file_pcm, analyze_path,
};

/// What `/proxy/silence?loudness=true` runs: the product analyses the cached body as a
/// seekable file (`analyze_path`), so an MP4 with its `moov` after the media data is read and
/// the edit list's priming is honoured.
fn analyze_loudness(
    path: &std::path::Path,
    params: SilenceParams,
) -> Result<SilenceMap, FeedError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
    analyze_path(path, ext.as_deref(), params, Measure { loudness: true })
}

fn main() {
    let params = SilenceParams::default();
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pcm = args.iter().any(|a| a == "--pcm");
    let loudness = args.iter().any(|a| a == "--loudness");
    let analyze: fn(&std::path::Path, SilenceParams) -> Result<SilenceMap, FeedError> = if loudness
    {
        analyze_loudness
    } else if pcm {
        analyze_file_pcm
    } else {
        analyze_file
    };
    for path in args.into_iter().filter(|a| !a.starts_with("--")) {
        let mut best = f64::INFINITY;
        let mut result = None;
        for _ in 0..repeat {
            let t = Instant::now();
            let r = analyze(std::path::Path::new(&path), params);
            best = best.min(t.elapsed().as_secs_f64());
            result = Some(r);
        }
        let Some(result) = result else { continue };
        match result {
            Ok(map) => {
                let secs = best;
                let mut line = serde_json::json!({"file": path, "seconds": secs, "duration": map.duration, "silences": map.silences, "loudness": map.loudness});
                // Packets decoded to PCM for the true peak, of all packets (spectral codecs);
                // the counter exists only with `test-hooks` (bench/feeds/run.sh builds so).
                #[cfg(feature = "test-hooks")]
                if loudness {
                    let (pcm, all) = skypod_feeds::silence::true_peak_packets();
                    line["true_peak_pcm_packets"] = serde_json::json!([pcm, all]);
                }
                println!("{line}");
            }
            Err(e) => {
                let line = serde_json::json!({"file": path, "error": e.to_string()});
                println!("{line}");
            }
        }
    }
}
