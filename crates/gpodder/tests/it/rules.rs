//! The conflict rules (crates/gpodder/src/bridge.rs, README): every device keeps its own
//! record; within a device the newest action wins; gpodder clients get the newest record
//! across devices, with its device named; subscriptions are the realm's, both ways.

use crate::common::{PASSWORD, USER, client, start};
use serde_json::{Value, json};
use skypod_gpodder::time::{format_iso, now_ms};
use skypod_library::{Library, NewFeed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_keeps_its_record_and_clients_get_the_newest() {
    let h = start().await;
    let c = client();
    let post = |p: String, body: Value| {
        c.post(format!("{}{p}", h.url))
            .basic_auth(USER, Some(PASSWORD))
            .json(&body)
    };
    for (d, cap) in [("phone", "AntennaPod"), ("tablet", "gPodder")] {
        let r = post(
            format!("/api/2/devices/{USER}/{d}.json"),
            json!({"caption": cap, "type": "mobile"}),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }
    let ep = format!("{}/ep1.mp3", h.media);
    let t0 = now_ms() - 600_000;
    let play = |dev: &str, at: i64, pos: i64| {
        json!({"podcast": h.feed, "episode": ep, "action": "play", "timestamp": format_iso(at),
               "started": 0, "position": pos, "total": 3000, "device": dev})
    };
    let upload = |body: Value| post(format!("/api/2/episodes/{USER}.json"), body);
    // Phone at 100 s (t0 + 60), tablet at 200 s (t0 + 120), then the phone's older pause at
    // 50 s (t0 + 30) arrives late: it must not move the phone's record back.
    for body in [
        json!([play("phone", t0 + 60_000, 100)]),
        json!([play("tablet", t0 + 120_000, 200)]),
        json!([play("phone", t0 + 30_000, 50)]),
    ] {
        assert_eq!(upload(body).send().await.unwrap().status(), 200);
    }
    let key = h.key("ep-1");
    let all = h.continue_from(&key).await;
    let by = |name: &str| {
        all.iter()
            .find(|r| r.device_name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no record for {name}: {all:?}"))
            .record
            .position
    };
    assert_eq!(
        by("AntennaPod (mobile) via node"),
        100.0,
        "rule 2: the late, older pause lost"
    );
    assert_eq!(
        by("gPodder (mobile) via node"),
        200.0,
        "rule 1: the tablet's own record"
    );

    // A realm member (the laptop) listens later still: it is what clients get back.
    let mut laptop = Library::new("laptop-identid").unwrap();
    laptop.set_device_name("Laptop").unwrap();
    laptop.set_clock(move || t0 + 300_000);
    laptop.set_position(&key, 1234.0, Some(3000.0)).unwrap();
    h.merge_device(laptop).await;
    let got = h.episode_actions().await;
    let plays: Vec<&Value> = got["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["guid"] == "ep-1")
        .collect();
    assert_eq!(plays.len(), 1, "one action per episode: the newest ({got})");
    assert_eq!(plays[0]["position"], 1234);
    assert_eq!(plays[0]["device"], "Laptop", "rule 3: the device is named");
    assert_eq!(
        plays[0]["episode"], ep,
        "the library's guid went back as the enclosure URL"
    );
    // Every device's record is still there.
    assert_eq!(h.continue_from(&key).await.len(), 3);

    // Played to the end on the phone (now the newest): completed in the library, and
    // given back as position == total.
    assert_eq!(
        upload(json!([play("phone", t0 + 400_000, 2998)]))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let top = h.continue_from(&key).await.remove(0);
    assert!(top.record.completed, "{top:?}");
    let got = h
        .get_json(format!(
            "/api/2/episodes/{USER}.json?since=0&podcast={}",
            h.feed
        ))
        .await;
    let a = got["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["guid"] == "ep-1")
        .unwrap();
    assert_eq!(
        (a["position"].as_i64(), a["total"].as_i64()),
        (Some(3000), Some(3000)),
        "{a}"
    );
    assert_eq!(a["device"], "phone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_the_realms_both_ways_with_since() {
    // A feed another device of the realm subscribes to.
    const ELSEWHERE: &str = "https://elsewhere.example/feed.xml";
    let h = start().await;
    let c = client();
    let r = c
        .post(format!("{}/api/2/devices/{USER}/phone.json", h.url))
        .basic_auth(USER, Some(PASSWORD))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let get = |since: i64| {
        h.get_json(format!(
            "/api/2/subscriptions/{USER}/phone.json?since={since}"
        ))
    };
    let first = get(0).await;
    let t1 = first["timestamp"].as_i64().unwrap();
    // Another device subscribes (through sync): the phone sees it as an add since t1.
    h.lib
        .run(|l| l.subscribe(NewFeed::url(ELSEWHERE)).unwrap())
        .await
        .unwrap();
    let changes = get(t1).await;
    assert_eq!(changes["add"], json!([ELSEWHERE]), "{changes}");
    let t2 = changes["timestamp"].as_i64().unwrap();
    // Nothing new since that answer: `since` = the answered timestamp repeats nothing.
    assert_eq!(get(t2).await["add"], json!([]));
    // The other device unsubscribes: a remove.
    h.lib
        .run(|l| l.unsubscribe(ELSEWHERE).unwrap())
        .await
        .unwrap();
    let changes = get(t2).await;
    assert_eq!(changes["remove"], json!([ELSEWHERE]), "{changes}");
    assert_eq!(changes["add"], json!([]));
}
