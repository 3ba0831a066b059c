//! TypeScript declarations of the feed JSON for the web app.
//!
//! `web/src/model/generated.ts` is this module's output; a test fails when it is stale
//! (`SKYPOD_BLESS=1 cargo test -p skypod-model` rewrites it).

use ts_rs::{Config, TS};

use crate::feed::*;

/// Every exported declaration, in a stable order, as one TypeScript module.
pub fn render() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        ParsedFeed::decl(&cfg),
        Channel::decl(&cfg),
        Funding::decl(&cfg),
        Episode::decl(&cfg),
        Enclosure::decl(&cfg),
        AlternateEnclosure::decl(&cfg),
        Transcript::decl(&cfg),
        Person::decl(&cfg),
        CacheStatus::decl(&cfg),
        FeedResponse::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/model by `SKYPOD_BLESS=1 cargo test -p skypod-model`.\n\
         // Do not edit: change the Rust types instead.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out
}
