//! Any bytes as the first frame of a connection, and as a token: the auth phase must refuse
//! cleanly, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skypod_protocol::TokenRules;
use skypod_protocol::token::{self, ExchangeClaims, NoClaims, RegisterClaims};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let rules = TokenRules::default();
    let _ = skypod_server::preauth::read_first(text, 1_800_000_000, &rules);
    let _ = token::peek::<NoClaims>(text, &rules);
    let _ = token::peek::<RegisterClaims>(text, &rules);
    let _ = token::peek::<ExchangeClaims>(text, &rules);
    let frame = format!(r#"{{"typ":"req","msg":"preauth.register","seq":1,"dat":{{"token":{}}}}}"#, serde_json::Value::String(text.to_owned()));
    let _ = skypod_server::preauth::read_first(&frame, 1_800_000_000, &rules);
});
