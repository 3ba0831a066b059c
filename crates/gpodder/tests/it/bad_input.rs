//! Bad input gets a clear 4xx and changes nothing in the library: malformed JSON, unknown
//! devices, huge uploads, timestamps in the future, bad URLs (all or nothing), other users'
//! paths. A replayed upload changes nothing either (it is answered 200: AntennaPod keeps
//! its queue until an upload succeeds, so refusing a replay would wedge it forever).
//! An action that matches no episode is kept and reported, not dropped.

use crate::common::{PASSWORD, USER, client, start};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let h = start().await;
    let c = client();
    let post = |p: &str, body: String| {
        c.post(format!("{}{p}", h.url))
            .basic_auth(USER, Some(PASSWORD))
            .header("content-type", "application/json")
            .body(body)
    };
    let r = post(
        "/api/2/devices/alice/phone.json",
        r#"{"caption":"Phone","type":"mobile"}"#.into(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let episodes = format!("/api/2/episodes/{USER}.json");
    let ts = skypod_gpodder::time::format_iso(skypod_gpodder::time::now_ms() - 10_000);
    let good = json!({"podcast": h.feed, "episode": format!("{}/ep1.mp3", h.media),
                      "action": "play", "timestamp": ts, "started": 0, "position": 30,
                      "total": 100, "device": "phone"});
    let before = h.heads().await;

    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        ("malformed JSON", episodes.clone(), "[{\"podcast\": ".into(), 400, "malformed episode actions"),
        ("not an array", episodes.clone(), json!({"podcast": h.feed}).to_string(), 400, "malformed"),
        ("missing field", episodes.clone(), json!([{"podcast": h.feed, "action": "play", "device": "phone"}]).to_string(), 400, "missing field `episode`"),
        ("unknown device in an action", episodes.clone(),
            json!([{"podcast": h.feed, "episode": "x", "action": "download", "device": "ghost"}]).to_string(), 400, "unknown device \"ghost\""),
        ("no device", episodes.clone(),
            json!([{"podcast": h.feed, "episode": "x", "action": "download"}]).to_string(), 400, "no device"),
        ("timestamp in the future", episodes.clone(),
            json!([good, {"podcast": h.feed, "episode": "x", "action": "download", "device": "phone",
                          "timestamp": "2099-01-01T00:00:00"}]).to_string(), 400, "in the future"),
        ("bad timestamp", episodes.clone(),
            json!([{"podcast": h.feed, "episode": "x", "action": "new", "device": "phone", "timestamp": "yesterday"}]).to_string(), 400, "not ISO 8601"),
        ("bad podcast URL, after a good action", episodes.clone(),
            json!([good, {"podcast": "file:///etc/passwd", "episode": "x", "action": "download", "device": "phone"}]).to_string(), 400, "action 1: podcast"),
        ("unknown action", episodes.clone(),
            json!([{"podcast": h.feed, "episode": "x", "action": "explode", "device": "phone"}]).to_string(), 400, "unknown action"),
        ("negative position", episodes.clone(),
            json!([{"podcast": h.feed, "episode": "x", "action": "play", "device": "phone", "position": -5}]).to_string(), 400, "position -5"),
        ("position on a download", episodes.clone(),
            json!([{"podcast": h.feed, "episode": "x", "action": "download", "device": "phone", "position": 5}]).to_string(), 400, "only valid for play"),
        ("huge upload", episodes.clone(),
            format!("[{}]", vec![good.to_string(); 9000].join(",")), 413, "over the limit"),
        ("too many actions", episodes.clone(),
            format!("[{}]", vec![json!({"podcast": h.feed, "episode": "x", "action": "new", "device": "phone"}).to_string(); 2500].join(",")), 400, "too many actions"),
        ("subscriptions: malformed", "/api/2/subscriptions/alice/phone.json".into(), "{\"add\": [".into(), 400, "malformed subscription changes"),
        ("subscriptions: unknown device", "/api/2/subscriptions/alice/ghost.json".into(), json!({"add": [h.feed]}).to_string(), 404, "unknown device"),
        ("subscriptions: bad URL, after a good one", "/api/2/subscriptions/alice/phone.json".into(),
            json!({"add": [h.feed, "not a url"]}).to_string(), 400, "podcast URL"),
        ("subscriptions: add and remove the same", "/api/2/subscriptions/alice/phone.json".into(),
            json!({"add": [h.feed], "remove": [h.feed]}).to_string(), 400, "both added and removed"),
        ("another user's path", "/api/2/episodes/bob.json".into(), json!([good]).to_string(), 401, ""),
        ("device settings: bad type", "/api/2/devices/alice/phone.json".into(), json!({"type": "toaster"}).to_string(), 400, "type \"toaster\""),
        ("nextcloud: malformed", "/index.php/apps/gpoddersync/episode_action/create".into(), "nope".into(), 400, "malformed"),
    ];
    for (what, path, body, status, says) in cases {
        let r = post(&path, body).send().await.unwrap();
        let got = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(got, status, "{what}: {text}");
        assert!(text.contains(says), "{what}: unclear message {text:?}");
        assert_eq!(h.heads().await, before, "{what}: the library changed");
    }
    // Bad `since` and unknown devices on reads.
    for (p, status) in [
        (format!("/api/2/episodes/{USER}.json?since=abc"), 400),
        (
            format!("/api/2/subscriptions/{USER}/phone.json?since=-1"),
            400,
        ),
        (
            format!("/api/2/subscriptions/{USER}/ghost.json?since=0"),
            404,
        ),
        (format!("/api/2/episodes/{USER}.json?device=ghost"), 404),
        (format!("/api/2/devices/{USER}.xml"), 404),
    ] {
        let r = c
            .get(format!("{}{p}", h.url))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{p}");
    }
    // Nothing of the refused uploads reached the journal either.
    let got = h.episode_actions().await;
    assert_eq!(got["actions"], json!([]), "{got}");

    // The good action alone is accepted; sent again (a replay), nothing changes.
    let r = post(&episodes, json!([good]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after_first = h.heads().await;
    assert_ne!(after_first, before);
    let r = post(&episodes, json!([good]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h.heads().await, after_first, "a replay changed the library");

    // An episode the feed does not list: kept, reported, given back as uploaded.
    let stray = json!({"podcast": h.feed, "episode": format!("{}/gone.mp3", h.media),
                       "action": "play", "timestamp": ts, "started": 0, "position": 12,
                       "total": 50, "device": "phone"});
    let r = post(&episodes, json!([stray]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        h.heads().await,
        after_first,
        "an unmatched action reached the library"
    );
    let unmatched = h.bridge.store().unmatched().await.unwrap();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert!(unmatched[0].episode.ends_with("/gone.mp3"));
    let got = h.episode_actions().await;
    assert!(
        got["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["episode"] == stray["episode"] && a["position"] == 12),
        "{got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_password_is_throttled_without_a_hint() {
    let h = start().await;
    let c = client();
    let devices = format!("{}/api/2/devices/{USER}.json", h.url);
    let get = |password: &'static str| c.get(&devices).basic_auth(USER, Some(password)).send();
    for i in 0..skypod_gpodder::throttle::FREE_FAILURES {
        let r = get("guess").await.unwrap();
        assert_eq!(r.status(), 401, "guess {i}");
    }
    // Now every attempt waits, the right password too: the answer says nothing about it.
    for password in ["guess", PASSWORD] {
        let r = get(password).await.unwrap();
        assert_eq!(r.status(), 429, "{password}");
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(r.text().await.unwrap().contains("too many failed logins"));
    }
    // Another name is not affected; after the wait the right password works and clears it.
    let r = c
        .get(format!("{}/api/2/devices/bob.json", h.url))
        .basic_auth("bob", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = get(PASSWORD).await.unwrap();
    assert_eq!(r.status(), 200);
    // A request that succeeded on Basic alone gets a session cookie (gpodder.net does the same;
    // mygpoclient answers only three Basic challenges and relies on the cookie after that).
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("sessionid="), "{cookie}");
    let sid = cookie.split(';').next().unwrap().to_owned();
    let r = c.get(&devices).header("cookie", &sid).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "a live session gets no second cookie"
    );
    let r = get("guess").await.unwrap();
    assert_eq!(r.status(), 401, "the success cleared the failures");
}
