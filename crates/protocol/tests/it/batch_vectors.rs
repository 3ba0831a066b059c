//! Golden vectors for data channel batches, shared with the web app
//! (`web/src/realm/batch.ts`): how items are packed, and which bodies are refused.
//! `testdata/batches.json` is regenerated with `SKYPOD_BLESS=1 cargo test -p skypod-protocol`;
//! this test checks it is current and that every recorded frame reads back as recorded.

use crate::fragment_vectors::{hex, unhex};
use crate::fresh::fresh_vectors;
use serde_json::{Value, json};
use skypod_protocol::batch::{BatchBuilder, LEN_PREFIX, items};
use skypod_protocol::link::{MAX_P2P_MESSAGE, tag};

/// A data channel message: the tag, then the body (the refused ones, which no builder makes).
fn message(body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag::BATCH];
    m.extend_from_slice(body);
    m
}

fn build() -> Value {
    let packed: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("one item", vec![b"hello".to_vec()]),
        (
            "empty item between two",
            vec![b"a".to_vec(), vec![], b"bc".to_vec()],
        ),
        (
            "library sync and a fragment",
            vec![b"\0Lsync".to_vec(), b"\0F\0\0\0\x01".to_vec()],
        ),
        ("an item of 300 bytes", vec![vec![0xab; 300], b"z".to_vec()]),
    ];
    let packed: Vec<Value> = packed
        .into_iter()
        .map(|(name, it)| {
            let mut b = BatchBuilder::default();
            for i in &it {
                assert!(b.push(i), "{name}");
            }
            json!({
                "name": name,
                "items": it.iter().map(|i| hex(i)).collect::<Vec<_>>(),
                "message": hex(&b.take()),
            })
        })
        .collect();
    let refused: Vec<Value> = [
        ("no item", vec![]),
        ("half a length", vec![0]),
        ("item shorter than its length", vec![0, 3, 1, 2]),
        ("good item, then a truncated one", vec![0, 1, 9, 0, 2, 1]),
    ]
    .into_iter()
    .map(|(name, body)| {
        json!({
            "name": name,
            "message": hex(&message(&body)),
            "error": items(&body).unwrap_err().code(),
        })
    })
    .collect();
    json!({
        "constants": { "tag": tag::BATCH, "len_prefix": LEN_PREFIX, "max_message": MAX_P2P_MESSAGE + 1 },
        "packed": packed,
        "refused": refused,
    })
}

#[test]
fn batch_vectors_are_current_and_hold() {
    let v = fresh_vectors("batches.json", &build());
    for p in v["packed"].as_array().unwrap() {
        let m = unhex(p["message"].as_str().unwrap());
        assert!(m.len() <= MAX_P2P_MESSAGE + 1, "{}", p["name"]);
        assert_eq!(m[0], tag::BATCH);
        let want: Vec<Vec<u8>> = p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| unhex(i.as_str().unwrap()))
            .collect();
        let got: Vec<Vec<u8>> = items(&m[1..]).unwrap().iter().map(|i| i.to_vec()).collect();
        assert_eq!(got, want, "{}", p["name"]);
    }
    for r in v["refused"].as_array().unwrap() {
        let m = unhex(r["message"].as_str().unwrap());
        let e = items(&m[1..]).unwrap_err();
        assert_eq!(e.code(), r["error"].as_str().unwrap(), "{}", r["name"]);
    }
}
