//! Deterministic mutation testing of the parsers that see untrusted input: every mutant of
//! the golden frames and tokens must be refused or accepted, never panic. (Coverage-guided
//! fuzzing of the same entry points: `fuzz/`.)

use skypod_protocol::envelope::RawEnvelope;
use skypod_protocol::messages::{BroadcastRequest, SignalRequest, TokenRequest};
use skypod_protocol::token::{self, ExchangeClaims, NoClaims, Purpose, RegisterClaims};
use skypod_protocol::{PublicJwk, RealmId, TokenRules};

/// xorshift: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            2 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, b"{}[]\",:.\\0-9eE"[rng.below(14)]);
            }
            3 if v.len() > 2 => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let j = rng.below(v.len() + 1);
                let (a, b) = (i.min(j), i.max(j));
                let chunk = v[a..b].to_vec();
                v.splice(a..a, chunk);
            }
        }
    }
    v
}

#[test]
fn mutated_frames_and_tokens_never_panic() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../testdata/vectors.json")).unwrap();
    let mut seeds: Vec<String> = vectors["envelopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["json"].as_str().unwrap().to_owned())
        .collect();
    let tokens: Vec<String> = vectors["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_owned())
        .collect();
    seeds.extend(tokens.iter().map(|t| {
        format!(r#"{{"typ":"req","msg":"preauth.authn","seq":1,"dat":{{"token":"{t}"}}}}"#)
    }));
    let alice = PublicJwk::from_value(&vectors["keys"]["alice"]["public_jwk"]).unwrap();
    let realm = RealmId::new("golden-realm-000001").unwrap();
    let rules = TokenRules::default();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for round in 0..20_000 {
        let seed = &seeds[round % seeds.len()];
        let m = mutate(&mut rng, seed.as_bytes());
        if let Ok(text) = std::str::from_utf8(&m)
            && let Ok(env) = RawEnvelope::parse(text)
        {
            let _ = env.dat::<TokenRequest>();
            let _ = env.dat::<BroadcastRequest>();
            let _ = env.dat::<SignalRequest>();
        }
        let t = mutate(&mut rng, tokens[round % tokens.len()].as_bytes());
        if let Ok(t) = std::str::from_utf8(&t) {
            let _ = token::peek::<RegisterClaims>(t, &rules);
            let _ = token::peek::<ExchangeClaims>(t, &rules);
            let verdict =
                token::verify::<NoClaims>(t, &alice, Purpose::Authn, &realm, 1_800_000_000, &rules);
            // A mutant that still verifies must be the original token (signatures bind every byte
            // of header and payload; only base64 padding-bit variants could differ).
            if verdict.is_ok() {
                assert!(
                    tokens
                        .iter()
                        .any(|o| o.split('.').take(2).eq(t.split('.').take(2))),
                    "mutant verified: {t}"
                );
            }
        }
    }
}
