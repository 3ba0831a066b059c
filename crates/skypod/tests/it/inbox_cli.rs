//! `skypod inbox`: new episodes across the subscriptions, through a real `skypod serve` and
//! its feed proxy, from a feed host on loopback that gains an episode; `--mark-seen` marks
//! them seen in the library, so they are not new any more.

use crate::common::{run, start_server_with};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

fn item(guid: &str, title: &str, date: &str) -> String {
    format!(
        "<item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid>\
         <enclosure url=\"http://127.0.0.1/{guid}.mp3\" type=\"audio/mpeg\" length=\"1\"/>\
         <pubDate>{date}</pubDate></item>"
    )
}

/// A feed host on loopback answering every request with the current feed.
fn feed_host(items: Arc<Mutex<Vec<String>>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Inbox Cast</title>\
                 <link>http://127.0.0.1/</link><description>d</description>{}</channel></rss>",
                items.lock().unwrap().join("")
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/feed.xml")
}

#[test]
fn inbox_lists_episodes_published_since_subscribing_until_seen() {
    let dir = tempfile::tempdir().unwrap();
    let d = |s: &str| dir.path().join(s).to_string_lossy().into_owned();
    let (_srv, listen) = start_server_with(
        &d("srv"),
        &[("SKYPOD_PROXY_ALLOW_FOR_TESTS", "127.0.0.1/32")],
    );
    let items = Arc::new(Mutex::new(vec![item(
        "old-1",
        "An old episode",
        "Mon, 02 Mar 2020 10:00:00 GMT",
    )]));
    let feed = feed_host(items.clone());

    let a = d("a");
    let server = format!("http://{listen}");
    assert!(run(&["--home", &a, "init", "--server", &server]).contains("Created realm"));
    let out = run(&["--home", &a, "subscribe", &feed, "--sync-timeout", "1"]);
    assert!(out.contains("Subscribed to Inbox Cast"), "{out}");

    // Episodes from before the subscription are not news.
    let out = run(&["--home", &a, "inbox", "--sync-timeout", "1"]);
    assert!(out.contains("Nothing new."), "{out}");

    // The feed gains an episode (dated after the subscription).
    items.lock().unwrap().push(item(
        "fresh-2",
        "A fresh episode",
        "Mon, 01 Jan 2035 10:00:00 GMT",
    ));
    let out = run(&["--home", &a, "inbox", "--sync-timeout", "1"]);
    assert!(
        out.contains("2035-01-01  Inbox Cast: A fresh episode"),
        "{out}"
    );
    assert!(!out.contains("old episode"), "{out}");

    let out = run(&["--home", &a, "inbox", "--mark-seen", "--sync-timeout", "1"]);
    assert!(out.contains("A fresh episode"), "{out}");
    assert!(out.contains("Marked 1 episode(s) seen."), "{out}");
    let out = run(&["--home", &a, "inbox", "--sync-timeout", "1"]);
    assert!(out.contains("Nothing new."), "{out}");
}
