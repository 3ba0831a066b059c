//! `reader_cli REPEAT FILE...` — runs reader mode on each HTML file REPEAT times
//! and prints one JSON line per file: text and median milliseconds per run
//! (used by bench/feeds/run.sh).

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let repeat: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    for path in args {
        let html = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                println!(
                    "{}",
                    serde_json::json!({"file": path, "error": e.to_string()})
                );
                continue;
            }
        };
        let mut last = None;
        let t = Instant::now();
        for _ in 0..repeat {
            last = Some(skypod_feeds::reader::read_article_bytes(
                &html,
                None,
                Some("https://bench.example/article"),
            ));
        }
        let ms = t.elapsed().as_secs_f64() * 1e3 / repeat as f64;
        match last {
            Some(Ok(a)) => println!(
                "{}",
                serde_json::json!({"file": path, "ms": ms, "title": a.title, "text": a.text})
            ),
            Some(Err(e)) => println!(
                "{}",
                serde_json::json!({"file": path, "ms": ms, "error": e.to_string()})
            ),
            None => {}
        }
    }
}
