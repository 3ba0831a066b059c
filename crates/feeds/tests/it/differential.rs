//! Differential test of the feed parser against python `feedparser` (pinned; scripts/test.sh
//! installs it): over the corpus in testdata/corpus, field by field — guid, title,
//! enclosure url/type/length, published, duration, season, episode.
//!
//! Every disagreement known today is listed, with who is right, in
//! tests/differential/known-disagreements.txt (and docs/feeds-differential.md). The test
//! fails on a disagreement not in that list, and on a listed one that no longer occurs
//! (so the list stays true).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use skypod_feeds::parse::{Episode, parse_feed};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What feedparser reads, per file.
fn feedparser(corpus: &Path) -> serde_json::Map<String, Value> {
    let script = manifest().join("tests/differential/feedparser_dump.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(corpus)
        .output()
        .expect("python3 runs (scripts/test.sh installs feedparser)");
    assert!(
        out.status.success(),
        "feedparser_dump.py failed (is feedparser 6.0.14 installed? `pip install feedparser==6.0.14`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("feedparser JSON") {
        Value::Object(m) => m,
        other => panic!("unexpected feedparser output {other}"),
    }
}

fn ours_fields(e: &Episode) -> Vec<(&'static str, Value)> {
    let enc = e.enclosure.as_ref();
    vec![
        ("guid", e.guid.clone().into()),
        ("title", e.title.clone().into()),
        ("enclosure_url", enc.map(|x| x.url.clone()).into()),
        (
            "enclosure_type",
            enc.and_then(|x| x.mime_type.clone()).into(),
        ),
        ("enclosure_length", enc.and_then(|x| x.length).into()),
        ("published", e.published.map(|d| d.timestamp()).into()),
        ("duration", e.duration_seconds.into()),
        ("season", e.season.map(f64::from).into()),
        ("episode", e.episode.into()),
    ]
}

/// Numbers compare as numbers (feedparser's `3.0` is our `3`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let cut = (0..=80).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

#[test]
fn parser_agrees_with_feedparser_except_where_documented() {
    let corpus = manifest().join("testdata/corpus");
    let theirs = feedparser(&corpus);
    assert!(theirs.len() >= 40, "corpus has {} files", theirs.len());
    let mut found = BTreeSet::new();
    let mut detail = Vec::new();
    for (file, fp) in &theirs {
        let bytes = std::fs::read(corpus.join(file)).expect("corpus file");
        let entries = fp["entries"].as_array().cloned().unwrap_or_default();
        let ours = match parse_feed(&bytes, None) {
            Ok(f) => f.episodes,
            Err(e) => {
                found.insert(format!("{file} * parse"));
                detail.push(format!(
                    "{file}: we refuse it ({e}); feedparser reads {} entries",
                    entries.len()
                ));
                continue;
            }
        };
        if ours.len() != entries.len() {
            found.insert(format!("{file} * count"));
            detail.push(format!(
                "{file}: {} episodes, feedparser {}",
                ours.len(),
                entries.len()
            ));
        }
        for (i, (o, t)) in ours.iter().zip(&entries).enumerate() {
            for (field, ov) in ours_fields(o) {
                let tv = &t[field];
                if !same(&ov, tv) {
                    found.insert(format!("{file} {i} {field}"));
                    detail.push(format!(
                        "{file} #{i} {field}: ours {} feedparser {}",
                        short(&ov),
                        short(tv)
                    ));
                }
            }
        }
    }
    let list =
        std::fs::read_to_string(manifest().join("tests/differential/known-disagreements.txt"))
            .expect("known-disagreements.txt");
    let known: BTreeSet<String> = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "new disagreements with feedparser: {new:#?}\nlisted but no longer seen: {gone:#?}\nall:\n{}",
        detail.join("\n")
    );
}
