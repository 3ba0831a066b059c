//! Generated files checked into the repository, and how they are refreshed.
//! (Also a module of skypod-model's tests.)

use std::path::Path;

/// The contents of the generated file at `path`, which must be `want`. With `SKYPOD_BLESS`
/// set, `want` is written there first: that is how generated files are refreshed.
pub fn assert_fresh(path: &Path, want: &str) -> String {
    if std::env::var_os("SKYPOD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `SKYPOD_BLESS=1 cargo test -p {}` and commit it",
        path.display(),
        env!("CARGO_PKG_NAME")
    );
    have
}

/// The JSON vectors `testdata/<name>`, which must be `want` pretty-printed (see
/// [`assert_fresh`]), as read back from the file: the checks run on what is committed,
/// independently of how it was generated.
#[allow(dead_code)] // skypod-model's tests have no vectors
pub fn fresh_vectors(name: &str, want: &serde_json::Value) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let have = assert_fresh(&path, &(serde_json::to_string_pretty(want).unwrap() + "\n"));
    serde_json::from_str(&have).unwrap()
}
