//! The feed proxy as mounted by the realm server: members only, real fetch from a loopback
//! fixture (allow-listed for the test), parsed episodes back.

use crate::common::{TestServer, http_get_with, realm_with};
use skypod_protocol::token::{self, NoClaims, Purpose};
use skypod_protocol::{IdentityKey, RealmId, unix_now};

const FEED: &str = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>Loopback Radio</title><description>fixture</description>
<item><title>Episode One</title><guid>ep-1</guid>
<enclosure url="http://127.0.0.1/ep1.mp3" type="audio/mpeg" length="1234"/>
<itunes:duration>01:02:03</itunes:duration></item>
</channel></rss>"#;

/// The `Authorization` header line of a `purpose` token of `key` in `realm`, living `ttl` s.
fn bearer(key: &IdentityKey, purpose: Purpose, realm: &RealmId, ttl: i64) -> String {
    let token = token::sign(key, purpose, realm, unix_now(), ttl, NoClaims {}).unwrap();
    format!("Authorization: Bearer {token}\r\n")
}

/// A server whose feed proxy may fetch from loopback (where the test fixtures listen).
async fn loopback_proxy_server() -> (tempfile::TempDir, TestServer) {
    TestServer::fresh_with(|cfg| cfg.proxy_allow = vec!["127.0.0.1/32".parse().unwrap()]).await
}

async fn fixture() -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/feed.xml",
        axum::routing::get(|| async { ([("content-type", "application/rss+xml")], FEED) }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_get_parsed_feeds_and_strangers_get_401() {
    let upstream = fixture().await;
    let (_dir, s) = loopback_proxy_server().await;
    let (realm, keys, _cs) = realm_with(&s, 1).await;
    let path = format!("/proxy/feed?url=http://{upstream}/feed.xml");

    let member = bearer(&keys[0], Purpose::Proxy, &realm, 60);
    let ok = http_get_with(s.addr, &path, &member).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.contains("Loopback Radio") && ok.contains("Episode One"),
        "{ok}"
    );
    assert!(ok.contains("3723"), "duration in seconds: {ok}");

    // no token, a stranger's token, a token for another purpose
    let none = http_get_with(s.addr, &path, "").await;
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    let stranger = IdentityKey::generate_es256();
    let r = http_get_with(
        s.addr,
        &path,
        &bearer(&stranger, Purpose::Proxy, &realm, 60),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let r = http_get_with(s.addr, &path, &bearer(&keys[0], Purpose::Authn, &realm, 60)).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_test_allow_list_loopback_is_refused() {
    let upstream = fixture().await;
    let (_dir, s) = TestServer::fresh().await;
    let (realm, keys, _cs) = realm_with(&s, 1).await;
    let r = http_get_with(
        s.addr,
        &format!("/proxy/feed?url=http://{upstream}/feed.xml"),
        &bearer(&keys[0], Purpose::Proxy, &realm, 60),
    )
    .await;
    assert!(!r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.to_lowercase().contains("refused")
            || r.to_lowercase().contains("not allowed")
            || r.contains("403"),
        "{r}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_token_stops_working_when_its_member_is_removed() {
    let upstream = fixture().await;
    let (_dir, s) = loopback_proxy_server().await;
    let (realm, keys, mut cs) = realm_with(&s, 2).await;
    let path = format!("/proxy/title?url=http://{upstream}/feed.xml");
    let auth = bearer(&keys[1], Purpose::Proxy, &realm, 120);
    // verified once, then served from the verified-token memo
    for _ in 0..2 {
        let r = http_get_with(s.addr, &path, &auth).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    cs[0]
        .remove_member(&keys[0], &realm, keys[1].identid())
        .await
        .unwrap();
    let r = http_get_with(s.addr, &path, &auth).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    drop(cs);
    s.stop().await;
}

/// Media elements cannot send headers: `/proxy/media` takes a stream token in its URL, bound
/// to the one enclosure URL, valid for hours; nothing else takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_tokens_open_one_enclosure_on_the_media_endpoint_only() {
    use skypod_protocol::token::{MEDIA_TOKEN_TTL, MediaClaims};
    let app = axum::Router::new().route(
        "/ep1.mp3",
        axum::routing::get(|| async { ([("content-type", "audio/mpeg")], vec![7u8; 4096]) }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let (_dir, s) = loopback_proxy_server().await;
    let (realm, keys, _cs) = realm_with(&s, 1).await;
    let enclosure = format!("http://{upstream}/ep1.mp3");
    // Loopback URLs need no escaping in a query (`:` and `/` are allowed there).
    let enc = |u: &str| u.to_owned();
    let media_token = |key: &IdentityKey, url: &str, ttl: i64| {
        token::sign(
            key,
            Purpose::Media,
            &realm,
            unix_now(),
            ttl,
            MediaClaims { url: url.into() },
        )
        .unwrap()
    };
    let get = |path: String| async move { http_get_with(s.addr, &path, "").await };

    let t = media_token(&keys[0], &enclosure, MEDIA_TOKEN_TTL);
    let ok = get(format!("/proxy/media?url={}&token={t}", enc(&enclosure))).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // A Range request later in the episode passes with the same URL.
    let r = http_get_with(
        s.addr,
        &format!("/proxy/media?url={}&token={t}", enc(&enclosure)),
        "Range: bytes=100-199\r\n",
    )
    .await;
    // (The fixture ignores ranges, so the whole body comes back: what matters is the token.)
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    // Another enclosure with the same token, the token on another endpoint, a stranger's
    // token, a proxy (one-minute) token in the URL, a token living longer than the rule.
    let other = format!("http://{upstream}/other.mp3");
    let stranger = IdentityKey::generate_es256();
    let proxy_token = token::sign(
        &keys[0],
        Purpose::Proxy,
        &realm,
        unix_now(),
        60,
        NoClaims {},
    )
    .unwrap();
    for (what, path) in [
        (
            "another enclosure",
            format!("/proxy/media?url={}&token={t}", enc(&other)),
        ),
        (
            "another endpoint",
            format!("/proxy/silence?url={}&token={t}", enc(&enclosure)),
        ),
        (
            "a stranger",
            format!(
                "/proxy/media?url={}&token={}",
                enc(&enclosure),
                media_token(&stranger, &enclosure, 600)
            ),
        ),
        (
            "a proxy token",
            format!("/proxy/media?url={}&token={proxy_token}", enc(&enclosure)),
        ),
        (
            "too long a life",
            format!(
                "/proxy/media?url={}&token={}",
                enc(&enclosure),
                media_token(&keys[0], &enclosure, 13 * 3600)
            ),
        ),
    ] {
        let r = get(path).await;
        assert!(r.starts_with("HTTP/1.1 401"), "{what}: {r}");
    }
    // A stream token is not a bearer token for the other endpoints either.
    let r = http_get_with(
        s.addr,
        &format!("/proxy/title?url={}", enc(&enclosure)),
        &format!("Authorization: Bearer {t}\r\n"),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    s.stop().await;
}
