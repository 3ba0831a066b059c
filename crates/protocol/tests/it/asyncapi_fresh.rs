//! The AsyncAPI document is generated from the catalog; this fails when it is stale, and when
//! the prose specification (docs/protocol.md) leaves a catalog message or an error code out.

use crate::fresh::assert_fresh;
use std::path::PathBuf;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

#[test]
fn generated_asyncapi_is_fresh() {
    let path = docs().join("asyncapi.json");
    assert_fresh(&path, &skypod_protocol::asyncapi::render());
}

#[test]
fn the_protocol_document_covers_every_message_and_error_code() {
    let doc = std::fs::read_to_string(docs().join("protocol.md")).expect("docs/protocol.md");
    let mut missing = vec![];
    for m in skypod_protocol::asyncapi::catalog() {
        if m.msg == "*" {
            continue;
        }
        // each message has its own section: a heading naming it in backquotes
        let heading = format!("### `{}`", m.msg);
        if !doc.lines().any(|l| l.starts_with(&heading)) {
            missing.push(heading);
        }
    }
    for c in skypod_protocol::errors::ERROR_CODES {
        if !doc.contains(&format!("`{}`", c.code)) {
            missing.push(format!("error code `{}`", c.code));
        }
    }
    missing.dedup();
    assert!(missing.is_empty(), "docs/protocol.md lacks: {missing:#?}");
}
