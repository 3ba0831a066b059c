//! The integration tests of `skypod-feeds`, one module per concern: a single test binary
//! (one link, not one per file).

mod common;

mod bad_input;
mod cache;
mod compression;
mod differential;
mod directory;
mod fetch_ssrf;
mod media_proxy;
mod proxy_http;
mod tls;
