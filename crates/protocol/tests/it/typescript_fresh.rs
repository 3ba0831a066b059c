//! The web app's protocol types are generated; this fails when they are stale.

use crate::fresh::assert_fresh;
use std::path::PathBuf;

#[test]
fn generated_typescript_is_fresh() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/src/protocol/generated.ts");
    assert_fresh(&path, &skypod_protocol::typescript::render());
}
