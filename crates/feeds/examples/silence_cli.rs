//! `silence_cli FILE...` — prints one JSON line per file with the silence map
//! and the wall time of the analysis (used by bench/feeds/run.sh).

use std::time::Instant;

use skypod_feeds::silence::{SilenceParams, analyze_file};

fn main() {
    let params = SilenceParams::default();
    for path in std::env::args().skip(1) {
        let t = Instant::now();
        match analyze_file(std::path::Path::new(&path), params) {
            Ok(map) => {
                let secs = t.elapsed().as_secs_f64();
                let line = serde_json::json!({"file": path, "seconds": secs, "duration": map.duration, "silences": map.silences});
                println!("{line}");
            }
            Err(e) => {
                let line = serde_json::json!({"file": path, "error": e.to_string()});
                println!("{line}");
            }
        }
    }
}
