//! The gpodder bridge end to end: `skypod node --gpodder-listen` on device A, an account
//! made with `skypod bridge user add`, a phone speaking the gpodder.net API (as AntennaPod
//! does) and device B, a realm member. The phone's position shows up on B as "continue
//! from AntennaPod (mobile) via node"; B's position comes back to the phone, B named.

use crate::common::{TestServer, free_port, run, serve_feed, skypod, start_node};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A two-episode feed on loopback; the proxy may fetch it (allow-listed for the test).
fn feed_fixture() -> String {
    serve_feed(|addr| {
        format!(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Bridge Cast</title>
<item><title>Episode One</title><guid>ep-1</guid><enclosure url="http://{addr}/ep1.mp3" type="audio/mpeg" length="1"/></item>
<item><title>Episode Two</title><guid>ep-2</guid><enclosure url="http://{addr}/ep2.mp3" type="audio/mpeg" length="1"/></item>
</channel></rss>"#
        )
    })
}

#[test]
fn a_position_from_a_gpodder_app_reaches_another_device_and_back() {
    let srv = TestServer::fetching_loopback();
    let feed = feed_fixture();
    let media = feed.trim_end_matches("/feed.xml").to_owned();
    let (a, b) = (srv.path("a"), srv.path("b"));
    srv.init(&a);

    // The account, password on stdin; a short one is refused.
    for (pw, ok) in [("short\n", false), ("phone password 1\n", true)] {
        let mut p = skypod()
            .args(["--home", &a, "bridge", "user", "add", "alice"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(pw.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert_eq!(
            out.status.success(),
            ok,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        run(&["--home", &a, "bridge", "user", "list"]).trim(),
        "alice"
    );

    let bridge = format!("127.0.0.1:{}", free_port());
    let _node = start_node(&a, &["--gpodder-listen", &bridge]);

    let link = run(&["--home", &a, "invite", "--no-qr"]);
    let joined = run(&["--home", &b, "join", link.trim(), "--key-timeout", "30"]);
    assert!(joined.contains("Realm key received"), "{joined}");
    let out = run(&["--home", &b, "subscribe", &feed]);
    assert!(out.contains("Subscribed to"), "{out}");

    // The phone: register, see the subscription, upload a position.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let api = |p: &str| format!("http://{bridge}{p}");
    let c = skypod_feeds::fetch::http_client().build().unwrap();
    // What the phone reads, as JSON.
    let phone_get = |path: &str| {
        let request = c
            .get(api(path))
            .basic_auth("alice", Some("phone password 1"));
        async move {
            let r = request.send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    rt.block_on(async {
        let r = c
            .post(api("/api/2/devices/alice/phone.json"))
            .basic_auth("alice", Some("phone password 1"))
            .body(r#"{"caption":"AntennaPod","type":"mobile"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // B's subscription reaches the node by sync; wait for it.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = phone_get("/api/2/subscriptions/alice/phone.json?since=0").await;
            if v["add"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u == feed.as_str())
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "B's subscription never reached the bridge: {v}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let ts = chrono_like_now(-30);
        let r = c
            .post(api("/api/2/episodes/alice.json"))
            .basic_auth("alice", Some("phone password 1"))
            .json(
                &serde_json::json!([{"podcast": feed, "episode": format!("{media}/ep1.mp3"),
                "action": "play", "timestamp": ts, "started": 0, "position": 754, "total": 1800,
                "device": "phone"}]),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // A wrong password: 401.
        let r = c
            .get(api("/api/2/devices/alice.json"))
            .basic_auth("alice", Some("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    });

    // B sees it: `skypod episodes` syncs with the node, then lists the positions.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = run(&["--home", &b, "episodes", &feed]);
        if out.contains("AntennaPod (mobile) via node: at 12:34") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the phone's position did not reach B:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // And back: B listens to episode two; the phone gets it, with B named.
    run(&[
        "--home",
        &b,
        "position",
        "ep-2",
        "5:00",
        "--feed",
        &feed,
        "--duration",
        "30:00",
    ]);
    let b_id = run(&["--home", &b, "whoami"]);
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = phone_get("/api/2/episodes/alice.json?since=0").await;
            if let Some(a) = v["actions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["guid"] == "ep-2")
            {
                assert_eq!(a["position"], 300, "{a}");
                assert_eq!(a["total"], 1800, "{a}");
                assert_eq!(a["episode"], format!("{media}/ep2.mp3"), "{a}");
                let named = a["device"].as_str().unwrap();
                assert!(
                    !named.is_empty() && b_id.contains(named),
                    "device {named:?} vs {b_id}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "B's position never reached the phone: {v}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
}

/// ISO 8601 UTC `offset_s` from now, as the apps send it.
fn chrono_like_now(offset_s: i64) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + offset_s * 1000;
    skypod_gpodder::time::format_iso(ms)
}
