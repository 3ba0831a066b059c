use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Tracked and new (not ignored) files, relative to the root; `None` outside a git checkout.
fn repo_files(root: &Path) -> Option<Vec<String>> {
    let out = Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .current_dir(root)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let all = String::from_utf8(out.stdout).ok()?;
    Some(
        all.split('\0')
            .filter(|f| !f.is_empty() && root.join(f).exists())
            .map(str::to_owned)
            .collect(),
    )
}

/// The root and its files, or `None` (and a note) outside a git checkout.
fn checkout() -> Option<(PathBuf, Vec<String>)> {
    let root = root();
    let files = repo_files(&root);
    if files.is_none() {
        eprintln!("not a git checkout: skipped");
    }
    Some((root, files?))
}

fn is_ignored(root: &Path, path: &str) -> bool {
    Command::new("git")
        .args(["check-ignore", "-q", "--no-index", path])
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success())
}

/// Extensions that make a word in a document a file reference.
const EXTENSIONS: &[&str] = &[
    "rs", "ts", "tsx", "md", "sh", "json", "jsonl", "toml", "mjs", "js", "py", "png", "yml",
    "yaml", "sql", "css", "html", "diff", "lock",
];

/// Names documents may use that are not files of this repository, each with the reason.
const NOT_REPO_FILES: &[(&str, &str)] = &[
    ("Node.js", "the runtime, not a file"),
    ("identity.pem", "created in a device directory at run time"),
    ("realm.json", "created in a device directory at run time"),
    ("bin/server.js", "inside the npm package y-webrtc"),
    ("prog.js", "a placeholder in a command line"),
    ("dist/bin/peerjs.js", "inside the npm package peer"),
];

/// `page00.html` … : the generated reader-mode corpus of docs/benchmarks-feeds.md.
fn generated_name(r: &str) -> bool {
    r.strip_prefix("page")
        .and_then(|s| s.strip_suffix(".html"))
        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
}

/// Words of `text` that look like file paths (`dir/name.ext` or `name.ext`).
fn file_refs(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
        .map(|w| w.trim_end_matches(['.', '-']))
        .filter(|w| {
            // URL tails ("//host/…") and absolute paths are not repository files.
            if w.starts_with('/') {
                return false;
            }
            let Some((stem, ext)) = w.rsplit_once('.') else {
                return false;
            };
            let dotted = w.starts_with('.') && !w.starts_with("./") && !w.starts_with("../");
            EXTENSIONS.contains(&ext)
                && !dotted // `.test.mjs` from `*.test.mjs`, `.rs` as a word
                && !stem.is_empty()
                && !stem.ends_with('/')
                && !stem.ends_with('.')
        })
        .collect()
}

#[test]
fn documents_name_only_files_that_exist() {
    let Some((root, files)) = checkout() else {
        return;
    };
    let set: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let mut dirs = BTreeSet::new();
    for f in &files {
        let mut p = Path::new(f.as_str());
        while let Some(d) = p.parent() {
            if d.as_os_str().is_empty() {
                break;
            }
            dirs.insert(d.to_string_lossy().into_owned());
            p = d;
        }
    }
    let names: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| Path::new(f).file_name()?.to_str())
        .collect();
    // Where a path in a crate's or the web app's document may be rooted.
    let bases: Vec<&str> = dirs
        .iter()
        .map(String::as_str)
        .filter(|d| {
            (d.starts_with("crates/") && d.matches('/').count() == 1)
                || ["web", "web/src"].contains(d)
        })
        .collect();
    let exists = |doc: &str, r: &str| -> bool {
        let r = r.strip_prefix("./").unwrap_or(r);
        if !r.contains('/') {
            return names.contains(r);
        }
        let doc_dir = Path::new(doc).parent().unwrap_or(Path::new(""));
        let mut cands = vec![PathBuf::from(r), doc_dir.join(r)];
        cands.extend(bases.iter().map(|b| Path::new(b).join(r)));
        cands.iter().any(|c| {
            let c = normalize(c);
            set.contains(c.as_str()) || dirs.contains(&c) || is_ignored(&root, &c)
        })
    };
    let mut missing = vec![];
    for doc in &files {
        let is_doc = doc.ends_with(".md");
        let is_code = [".rs", ".ts", ".tsx", ".mjs", ".sh", ".toml"]
            .iter()
            .any(|e| doc.ends_with(e));
        // Upstream's own files in vendor/<crate>/ are not ours to check.
        let upstream = doc.starts_with("vendor/") && doc.matches('/').count() > 1;
        if !(is_doc || is_code) || upstream || doc.contains("node_modules/") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(doc)) else {
            continue;
        };
        for r in file_refs(&text) {
            // In code only mentions of documents count (code names files in many ways).
            if is_code && !r.ends_with(".md") {
                continue;
            }
            if NOT_REPO_FILES.iter().any(|(n, _)| *n == r) || generated_name(r) {
                continue;
            }
            if !exists(doc, r) {
                missing.push(format!("{doc}: {r}"));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "these files are named but do not exist (fix the reference, or add the name to \
         NOT_REPO_FILES with the reason):\n{}",
        missing.join("\n")
    );
}

/// `a/./b/../c` → `a/c`, as a `/`-separated string.
fn normalize(p: &Path) -> String {
    let mut out: Vec<&str> = vec![];
    for c in p.to_str().unwrap_or("").split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The unpacked registry copy of `name`-`version`, if cargo has it (extracted, or the
/// downloaded `.crate` unpacked into `tmp`).
fn registry_copy(name: &str, version: &str, tmp: &Path) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let dir = format!("{name}-{version}");
    for index in std::fs::read_dir(home.join("registry/src")).ok()?.flatten() {
        let p = index.path().join(&dir);
        if p.join("Cargo.toml").exists() {
            return Some(p);
        }
    }
    for index in std::fs::read_dir(home.join("registry/cache"))
        .ok()?
        .flatten()
    {
        let krate = index.path().join(format!("{dir}.crate"));
        if krate.exists() {
            let ok = Command::new("tar")
                .arg("xzf")
                .arg(&krate)
                .arg("-C")
                .arg(tmp)
                .status()
                .is_ok_and(|s| s.success());
            return ok.then(|| tmp.join(&dir));
        }
    }
    None
}

fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.insert(rel.to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn toml_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"'))
}

#[test]
fn vendor_crates_are_upstream_plus_their_recorded_diff() {
    let root = root();
    let vendor = root.join("vendor");
    let mut checked = 0;
    for e in std::fs::read_dir(&vendor).expect("vendor/").flatten() {
        let dir = e.path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = toml_value(&manifest, "name").expect("package name");
        let version = toml_value(&manifest, "version").expect("package version");
        let diff = vendor.join("patches").join(format!("{name}.diff"));
        assert!(
            diff.exists(),
            "vendor/{name} has no recorded diff at {}",
            diff.display()
        );
        let tmp = tempfile::tempdir().unwrap();
        let Some(upstream) = registry_copy(name, version, tmp.path()) else {
            eprintln!("{name} {version} is not in the cargo registry cache: not compared");
            continue;
        };
        let work = tmp.path().join("patched");
        let copied = Command::new("cp")
            .arg("-r")
            .arg(&upstream)
            .arg(&work)
            .status()
            .is_ok_and(|s| s.success());
        assert!(copied, "copying {}", upstream.display());
        let patched = Command::new("patch")
            .args(["-p1", "-s", "-i"])
            .arg(&diff)
            .current_dir(&work)
            .status()
            .expect("the `patch` tool");
        assert!(
            patched.success(),
            "{} does not apply to {name} {version}",
            diff.display()
        );
        // What cargo adds when it packages or unpacks a crate is not part of the source.
        let packaging = [
            "Cargo.toml.orig",
            "Cargo.lock",
            ".cargo_vcs_info.json",
            ".cargo-ok",
        ];
        let keep = |p: &PathBuf| !packaging.iter().any(|x| p == Path::new(x));
        let want: BTreeSet<_> = files_under(&work).into_iter().filter(keep).collect();
        let have: BTreeSet<_> = files_under(&dir).into_iter().filter(keep).collect();
        assert_eq!(
            want, have,
            "vendor/{name}: files differ from upstream + diff"
        );
        for f in &want {
            assert!(
                std::fs::read(work.join(f)).unwrap() == std::fs::read(dir.join(f)).unwrap(),
                "vendor/{name}/{} differs from upstream {version} + {}",
                f.display(),
                diff.display()
            );
        }
        checked += 1;
    }
    eprintln!("{checked} vendored crate(s) compared with upstream");
}

#[test]
fn one_fuzz_workspace_for_all_targets() {
    let Some((root, files)) = checkout() else {
        return;
    };
    let fuzz: Vec<_> = files
        .iter()
        .filter(|f| f.ends_with("Cargo.toml"))
        .filter(|f| {
            std::fs::read_to_string(root.join(f)).is_ok_and(|t| t.contains("cargo-fuzz = true"))
        })
        .collect();
    assert_eq!(
        fuzz,
        vec!["fuzz/Cargo.toml"],
        "every fuzz target belongs in fuzz/ (one workspace, one lockfile)"
    );
    // And every target there is declared.
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).unwrap();
    for f in files.iter().filter(|f| f.starts_with("fuzz/fuzz_targets/")) {
        let rel = f.trim_start_matches("fuzz/");
        assert!(
            manifest.contains(rel),
            "{f} is not a [[bin]] of fuzz/Cargo.toml"
        );
    }
}

/// Whether cargo builds `path` (relative to the root) as an integration-test binary of a
/// crate under crates/: each `tests/*.rs` and each `tests/*/main.rs` is one.
fn integration_test_target(path: &str) -> bool {
    let Some((_, in_tests)) = path
        .strip_prefix("crates/")
        .and_then(|p| p.split_once("/tests/"))
    else {
        return false;
    };
    match in_tests.split_once('/') {
        None => in_tests.ends_with(".rs"),
        Some((_, rest)) => rest == "main.rs",
    }
}

#[test]
fn one_integration_test_binary_per_crate() {
    let Some((root, files)) = checkout() else {
        return;
    };
    // Each test binary links the crate and all its dependencies again: on 2 cores that link
    // time was most of a test build. One binary, `tests/it/main.rs`, with a module per file.
    let extra: Vec<_> = files
        .iter()
        .filter(|f| integration_test_target(f) && !f.ends_with("/tests/it/main.rs"))
        .collect();
    assert!(
        extra.is_empty(),
        "each crate has one integration-test binary, tests/it/main.rs: make these modules of \
         it:\n{extra:#?}"
    );
    for f in files
        .iter()
        .filter(|f| f.starts_with("crates/") && f.ends_with("/Cargo.toml"))
    {
        let manifest = std::fs::read_to_string(root.join(f)).unwrap();
        assert!(
            !manifest.lines().any(|l| l.trim() == "[[test]]"),
            "{f} declares a [[test]] target: use a module of tests/it/main.rs (and `#[cfg]` \
             for required features)"
        );
    }
}

#[test]
fn integration_test_targets_are_recognised() {
    assert!(integration_test_target("crates/server/tests/realm.rs"));
    assert!(integration_test_target("crates/server/tests/it/main.rs"));
    assert!(integration_test_target("crates/server/tests/extra/main.rs"));
    assert!(!integration_test_target("crates/server/tests/it/realm.rs"));
    assert!(!integration_test_target(
        "crates/server/tests/it/common/mod.rs"
    ));
    assert!(!integration_test_target(
        "crates/feeds/tests/differential/feedparser_dump.py"
    ));
    assert!(!integration_test_target("crates/server/src/tests.rs"));
    assert!(!integration_test_target(
        "vendor/symphonia-codec-aac/tests/tests.rs"
    ));
}

#[test]
fn the_file_reference_scanner_finds_paths() {
    let t = "see `crates/peer/src/sm/realm.rs`, ARCHITECTURE.md and https://x.org/a.md; \
             not v1.2 or e.g. or ./run.sh.";
    assert_eq!(
        file_refs(t),
        vec!["crates/peer/src/sm/realm.rs", "ARCHITECTURE.md", "./run.sh"]
    );
}
