//! Golden vectors for message fragmentation, shared with the web app
//! (`web/src/realm/fragment.ts`): how messages split, and what a reassembler answers to a
//! sequence of frames. `testdata/fragments.json` is regenerated with
//! `SKYPOD_BLESS=1 cargo test -p skypod-protocol`; this test checks it is current and that
//! the Rust code reaches every recorded outcome. Also: no mutant of a fragment panics.

use crate::fresh::fresh_vectors;
use serde_json::{Value, json};
use skypod_protocol::fragment::{
    FRAGMENT_OVERHEAD, Fragment, HEADER_LEN, MAX_MESSAGE, MIN_CHUNK, REMEMBERED, Reassembler,
    ReassemblyLimits, split,
};
use std::time::{Duration, Instant};

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn msg(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn frag(id: u32, index: u32, count: u32, total: u32, payload: &[u8]) -> Vec<u8> {
    Fragment {
        id,
        index,
        count,
        total,
        payload,
    }
    .encode()
}

/// A reassembly scenario: frames pushed in order at given times, the outcome of each.
struct Scenario {
    name: &'static str,
    limits: ReassemblyLimits,
    steps: Vec<(u64, Vec<u8>)>,
}

fn run(s: &Scenario) -> Vec<Value> {
    let t0 = Instant::now();
    let mut r = Reassembler::new(s.limits.clone());
    s.steps
        .iter()
        .map(|(at, frame)| {
            let outcome = match r.push(t0 + Duration::from_millis(*at), frame) {
                Ok(None) => json!("pending"),
                Ok(Some(m)) => json!({ "deliver": hex(&m) }),
                Err(e) => json!({ "error": e.code() }),
            };
            json!({ "at_ms": at, "frame": hex(frame), "expect": outcome })
        })
        .collect()
}

fn limits(
    max_message: usize,
    max_partials: usize,
    max_buffered: usize,
    timeout_ms: u64,
) -> ReassemblyLimits {
    ReassemblyLimits {
        max_message,
        max_partials,
        max_buffered,
        timeout: Duration::from_millis(timeout_ms),
    }
}

/// Frames all pushed at time 0.
fn at_once(frames: impl IntoIterator<Item = Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    frames.into_iter().map(|f| (0, f)).collect()
}

fn limits_json(l: &ReassemblyLimits) -> Value {
    json!({
        "max_message": l.max_message,
        "max_partials": l.max_partials,
        "max_buffered": l.max_buffered,
        "timeout_ms": l.timeout.as_millis() as u64,
    })
}

fn build() -> Value {
    let mut splits = vec![];
    let mut add_split = |name: &str, m: &[u8], max: usize, id: u32| {
        let out = match split(m, max, id) {
            Ok(frames) => json!({ "frames": frames.iter().map(|f| hex(f)).collect::<Vec<_>>() }),
            Err(e) => json!({ "error": e.code() }),
        };
        let mut v = json!({ "name": name, "message": hex(m), "max": max, "id": id });
        v.as_object_mut()
            .unwrap()
            .extend(out.as_object().unwrap().clone());
        splits.push(v);
    };
    add_split("small message travels unframed", b"hello", 64, 1);
    add_split("empty message travels unframed", b"", 64, 1);
    add_split("exact fit travels unframed", &msg(64, 1), 64, 1);
    add_split(
        "library sync prefix travels unframed",
        b"\0L\x42\x01",
        64,
        1,
    );
    add_split("reserved prefix is always framed", b"\0F", 64, 5);
    add_split("one byte over splits in two", &msg(65, 2), 64, 2);
    add_split("three fragments", &msg(100, 3), 50, 0xdead_beef);
    add_split(
        "smallest max",
        &msg(40, 4),
        HEADER_LEN + MIN_CHUNK,
        u32::MAX,
    );
    add_split("max too small", &msg(40, 4), HEADER_LEN + MIN_CHUNK - 1, 1);

    let l = ReassemblyLimits::default();
    let m100 = msg(100, 3);
    let p100 = split(&m100, 50, 7).unwrap();
    let m300 = msg(300, 5);
    let scenarios = vec![
        Scenario {
            name: "in order",
            limits: l.clone(),
            steps: at_once(p100.iter().cloned()),
        },
        Scenario {
            name: "reversed",
            limits: l.clone(),
            steps: at_once(p100.iter().rev().cloned()),
        },
        Scenario {
            name: "duplicate fragment, then late duplicates after delivery",
            limits: l.clone(),
            steps: at_once([0, 0, 1, 2, 3, 1].map(|i| p100[i].clone())),
        },
        Scenario {
            name: "two messages interleaved",
            limits: l.clone(),
            steps: {
                let a = split(&msg(40, 1), 34, 1).unwrap();
                let b = split(&msg(40, 2), 34, 2).unwrap();
                at_once([&a[0], &b[0], &b[2], &a[2], &a[1], &b[1]].map(Vec::clone))
            },
        },
        Scenario {
            name: "framed message with the reserved prefix",
            limits: l.clone(),
            steps: vec![(0, split(b"\0Fabc", 64, 3).unwrap()[0].clone())],
        },
        Scenario {
            name: "bad headers",
            limits: l.clone(),
            steps: at_once([
                b"hello".to_vec(),
                b"\0F\0\0\0\x01".to_vec(),
                frag(1, 0, 0, 0, b""),
                frag(1, 2, 2, 40, &[0; 20]),
                frag(1, 0, 4, 40, &[0; 10]),
                frag(1, 0, 2, 40, &[0; 10]),
                frag(1, 1, 2, 20, &[0; 21]),
                frag(1, 0, 1, 3, b"ab"),
            ]),
        },
        Scenario {
            name: "inconsistent fragments drop the partial message",
            limits: l.clone(),
            steps: at_once([
                frag(9, 0, 2, 40, &[1; 20]),
                frag(9, 1, 3, 60, &[2; 20]),
                frag(9, 1, 2, 40, &[2; 20]),
            ]),
        },
        Scenario {
            name: "more bytes than declared drop the partial message",
            limits: l.clone(),
            steps: at_once([frag(4, 0, 2, 40, &[1; 30]), frag(4, 1, 2, 40, &[2; 20])]),
        },
        Scenario {
            name: "too large for the limit",
            limits: limits(1000, 8, 10_000, 60_000),
            steps: vec![(0, split(&msg(1001, 0), 100, 1).unwrap()[0].clone())],
        },
        Scenario {
            name: "partials, buffer and expiry",
            limits: limits(1000, 2, 600, 10_000),
            steps: {
                let a = split(&m300, 100, 2).unwrap();
                let b = split(&m300, 100, 3).unwrap();
                let c = split(&m300, 100, 4).unwrap();
                vec![
                    (0, a[0].clone()),
                    (1, b[0].clone()),
                    (2, c[0].clone()),
                    (3, a[1].clone()),
                    (4, a[2].clone()),
                    (5, b[1].clone()),
                    // a and b expire (idle since 4 and 1 ms); c starts afresh.
                    (10_005, c[0].clone()),
                    (10_006, c[1].clone()),
                    (10_007, c[2].clone()),
                    (10_008, c[3].clone()),
                ]
            },
        },
        Scenario {
            name: "a delivered id is forgotten after the timeout",
            limits: limits(1000, 8, 10_000, 1_000),
            steps: vec![
                (0, frag(6, 0, 1, 3, b"abc")),
                (500, frag(6, 0, 1, 3, b"abc")),
                (1_000, frag(6, 0, 1, 3, b"abc")),
            ],
        },
    ];
    let reassembly: Vec<Value> = scenarios
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "limits": limits_json(&s.limits),
                "steps": run(s),
            })
        })
        .collect();
    json!({
        "constants": {
            "header_len": HEADER_LEN,
            "min_chunk": MIN_CHUNK,
            "max_message": MAX_MESSAGE,
            "fragment_overhead": FRAGMENT_OVERHEAD,
            "remembered": REMEMBERED,
            "default_limits": limits_json(&l),
        },
        "split": splits,
        "reassembly": reassembly,
    })
}

#[test]
fn fragment_vectors_are_current_and_hold() {
    // The recorded outcomes are what a reassembler says, and every delivered message is the
    // one that was split (checked from the file, independently of how it was generated).
    let v = fresh_vectors("fragments.json", &build());
    for s in v["split"].as_array().unwrap() {
        let m = unhex(s["message"].as_str().unwrap());
        let max = s["max"].as_u64().unwrap() as usize;
        let Some(frames) = s["frames"].as_array() else {
            continue;
        };
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut got = None;
        for f in frames {
            let f = unhex(f.as_str().unwrap());
            assert!(f.len() <= max, "{}", s["name"]);
            if !skypod_protocol::fragment::is_fragment(&f) {
                got = Some(f);
                continue;
            }
            if let Some(m) = r.push(Instant::now(), &f).unwrap() {
                got = Some(m);
            }
        }
        assert_eq!(got.as_deref(), Some(&m[..]), "{}", s["name"]);
    }
    let delivered: usize = v["reassembly"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap())
        .filter(|st| st["expect"].get("deliver").is_some())
        .count();
    assert!(
        delivered >= 6,
        "the vectors deliver too few messages: {delivered}"
    );
}

/// xorshift mutations of valid fragments: refused or accepted, never a panic, and the
/// buffer accounting returns to zero once everything expires.
#[test]
fn mutated_fragments_never_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let frames = split(&msg(500, 9), 64, 77).unwrap();
    let t0 = Instant::now();
    let mut r = Reassembler::new(limits(4096, 4, 8192, 1_000));
    for i in 0..20_000u64 {
        let mut f = frames[(next() % frames.len() as u64) as usize].clone();
        for _ in 0..=next() % 3 {
            match next() % 4 {
                0 if !f.is_empty() => {
                    let at = (next() % f.len() as u64) as usize;
                    f[at] = next() as u8;
                }
                1 => f.truncate((next() % (f.len() as u64 + 1)) as usize),
                2 => f.extend((0..next() % 40).map(|_| next() as u8)),
                _ => {
                    let at = 2 + (next() % 16) as usize;
                    if at < f.len() {
                        f[at] ^= 1 << (next() % 8);
                    }
                }
            }
        }
        let _ = r.push(t0 + Duration::from_millis(i / 10), &f);
        assert!(r.buffered() <= 8192);
        assert!(r.in_flight() <= 4);
    }
    r.expire(t0 + Duration::from_secs(3600));
    assert_eq!(r.buffered(), 0);
}
