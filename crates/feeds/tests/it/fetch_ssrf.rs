//! SSRF guard and hostile-upstream behaviour against a loopback fixture server.
//! Nothing here ever sends traffic to a non-loopback address: refusals happen
//! before connecting (IP literals are vetted before the request, names inside
//! the resolver).

use crate::common;

use skypod_feeds::FeedError;
use skypod_feeds::fetch::{FetchConfig, Fetcher};
use url::Url;

fn u(s: &str) -> Url {
    Url::parse(s).expect("url")
}

fn guarded() -> Fetcher {
    // Production settings: no allow-list.
    Fetcher::new(FetchConfig {
        total_timeout: std::time::Duration::from_secs(3),
        ..FetchConfig::default()
    })
    .expect("fetcher")
}

fn allowed() -> Fetcher {
    Fetcher::new(common::test_fetch_config()).expect("fetcher")
}

#[tokio::test]
async fn loopback_refused_without_allow_list() {
    let srv = common::start().await;
    let f = guarded();
    for target in [
        srv.url("/fresh.xml"),
        format!("http://localhost:{}/fresh.xml", srv.addr.port()),
        format!("http://[::1]:{}/fresh.xml", srv.addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/fresh.xml", srv.addr.port()),
        format!("http://2130706433:{}/fresh.xml", srv.addr.port()),
    ] {
        let r = f.fetch(&u(&target), None).await;
        assert!(
            matches!(r, Err(FeedError::Forbidden { .. })),
            "{target}: {r:?}"
        );
    }
    assert_eq!(
        srv.state.total.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "fixture must see no request"
    );
}

#[tokio::test]
async fn private_and_metadata_literals_refused_before_connecting() {
    let f = allowed(); // even with 127.0.0.1 allow-listed
    for target in [
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
    ] {
        let started = std::time::Instant::now();
        let r = f.fetch(&u(target), None).await;
        assert!(
            matches!(r, Err(FeedError::Forbidden { .. })),
            "{target}: {r:?}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_millis(500),
            "{target} must fail without a connect attempt"
        );
    }
}

#[tokio::test]
async fn redirects_are_checked_on_every_hop() {
    let srv = common::start().await;
    let f = allowed();
    for path in ["/to-private", "/to-metadata", "/to-v6-loopback"] {
        let r = f.fetch(&u(&srv.url(path)), None).await;
        assert!(
            matches!(r, Err(FeedError::Forbidden { .. })),
            "{path}: {r:?}"
        );
    }
    let r = f.fetch(&u(&srv.url("/to-file")), None).await;
    assert!(matches!(r, Err(FeedError::InvalidUrl(_))), "{r:?}");
    // localhost resolves to loopback; refused unless every address is allow-listed
    let r = guarded()
        .fetch(
            &u(&format!("http://localhost:{}/fresh.xml", srv.addr.port())),
            None,
        )
        .await;
    assert!(matches!(r, Err(FeedError::Forbidden { .. })), "{r:?}");
    // a legit two-hop redirect works and reports the final URL
    let ok = f.fetch(&u(&srv.url("/hop1")), None).await.expect("hops");
    assert!(ok.final_url.as_str().ends_with("/fresh.xml"));
}

#[tokio::test]
async fn redirect_loop_and_limit() {
    let srv = common::start().await;
    let r = allowed().fetch(&u(&srv.url("/loop")), None).await;
    assert!(matches!(r, Err(FeedError::TooManyRedirects(3))), "{r:?}");
    assert_eq!(srv.state.hits("/loop"), 4);
}

#[tokio::test]
async fn body_cap() {
    let srv = common::start().await;
    let r = allowed().fetch(&u(&srv.url("/big")), None).await;
    assert!(matches!(r, Err(FeedError::TooLarge(_))), "{r:?}");
    let r = allowed().fetch(&u(&srv.url("/big-chunked")), None).await;
    assert!(matches!(r, Err(FeedError::TooLarge(_))), "chunked: {r:?}");
}

#[tokio::test]
async fn slow_loris_and_stall_time_out() {
    let srv = common::start().await;
    let started = std::time::Instant::now();
    let r = allowed().fetch(&u(&srv.url("/slow")), None).await;
    assert!(matches!(r, Err(FeedError::Timeout)), "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    let r = allowed().fetch(&u(&srv.url("/stall")), None).await;
    assert!(matches!(r, Err(FeedError::Timeout)), "{r:?}");
}

#[tokio::test]
async fn unreachable_host() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    let r = allowed()
        .fetch(&u(&format!("http://127.0.0.1:{port}/")), None)
        .await;
    assert!(matches!(r, Err(FeedError::Unreachable(_))), "{r:?}");
    assert_eq!(r.err().map(|e| e.status()), Some(502));
}

#[tokio::test]
async fn non_http_and_bad_urls() {
    assert!(skypod_feeds::fetch::parse_url("gopher://x/").is_err());
    let r = allowed().fetch(&u("http://user:pw@127.0.0.1/"), None).await;
    assert!(matches!(r, Err(FeedError::InvalidUrl(_))), "{r:?}");
}
