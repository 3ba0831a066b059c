//! The web app's feed types are generated; this fails when they are stale.

use std::path::PathBuf;

#[test]
fn generated_typescript_is_fresh() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/src/model/generated.ts");
    let want = skypod_model::typescript::render();
    if std::env::var_os("SKYPOD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `SKYPOD_BLESS=1 cargo test -p skypod-model` and commit it",
        path.display()
    );
}
