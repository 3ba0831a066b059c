//! The crate's fixtures under `testdata/`, for unit tests: one place that knows where they
//! are and how a missing one is reported.

use std::path::{Path, PathBuf};

/// `testdata/<dir>/<name>`.
pub(crate) fn path(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(dir)
        .join(name)
}

/// The bytes of `testdata/<dir>/<name>`; panics naming the fixture when it cannot be read.
pub(crate) fn read(dir: &str, name: &str) -> Vec<u8> {
    let path = path(dir, name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
