//! The requests AntennaPod sends (read in its GpodnetService and NextcloudSyncService:
//! paths, bodies, headers, the login cookie, its timestamp format, its `guid` field),
//! replayed against the bridge, with what lands in the library.

use crate::common::{PASSWORD, USER, client, send, send_json, start};
use reqwest::header;
use serde_json::{Value, json};

fn now_iso(offset_s: i64) -> String {
    skypod_gpodder::time::format_iso(skypod_gpodder::time::now_ms() + offset_s * 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpodder_net_flow_as_antennapod_sends_it() {
    let h = start().await;
    let c = client();
    let api = |p: &str| format!("{}{p}", h.url);

    // login(): POST with an empty text body and Basic credentials; it keeps the cookie.
    let r = send(
        c.post(api(&format!("/api/2/auth/{USER}/login.json")))
            .basic_auth(USER, Some(PASSWORD))
            .header(header::CONTENT_TYPE, "plain/text; charset=utf-8")
            .body(""),
    )
    .await;
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .expect("login sets the session cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("sessionid="), "{cookie}");

    // From here on only the cookie, as OkHttp's cookie jar sends it.
    let get_json = |path: String| {
        let request = c.get(api(&path)).header(header::COOKIE, &cookie);
        async move { send_json(request).await }
    };
    let dev = "antennapod-7f3a";
    let r = send(
        c.post(api(&format!("/api/2/devices/{USER}/{dev}.json")))
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(r#"{"caption":"AntennaPod on Pixel 7","type":"mobile"}"#),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let devices = get_json(format!("/api/2/devices/{USER}.json")).await;
    assert_eq!(devices[0]["id"], dev);
    assert_eq!(devices[0]["caption"], "AntennaPod on Pixel 7");
    assert_eq!(devices[0]["type"], "mobile");
    assert!(devices[0]["subscriptions"].is_number());

    // syncSubscriptions: GET since=0 first, then upload local subscriptions.
    let changes = get_json(format!("/api/2/subscriptions/{USER}/{dev}.json?since=0")).await;
    assert_eq!(changes["add"], json!([]));
    assert_eq!(changes["remove"], json!([]));
    assert!(changes["timestamp"].as_i64().unwrap() > 1_700_000_000);
    let r: Value = send_json(
        c.post(api(&format!("/api/2/subscriptions/{USER}/{dev}.json")))
            .header(header::COOKIE, &cookie)
            .json(&json!({"add": [h.feed], "remove": []})),
    )
    .await;
    assert!(r["timestamp"].is_i64(), "{r}");
    assert!(r["update_urls"].is_array(), "{r}");
    let feed = h.feed.clone();
    assert!(h.lib.run(move |l| l.is_subscribed(&feed)).await.unwrap());

    // syncEpisodeActions: GET since, then POST the queue in bulks of 30, each with device.
    let ts = now_iso(-60);
    let body = json!([{
        "podcast": h.feed, "episode": format!("{}/ep1.mp3", h.media), "guid": "ep-1",
        "action": "play", "timestamp": ts, "started": 100, "position": 754, "total": 3600,
        "device": dev
    }, {
        "podcast": h.feed, "episode": format!("{}/ep2.mp3", h.media), "guid": "ep-2",
        "action": "download", "timestamp": ts, "device": dev
    }]);
    let r = send(
        c.post(api(&format!("/api/2/episodes/{USER}.json")))
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert!(
        r["timestamp"].is_i64() && r["update_urls"].is_array(),
        "{r}"
    );

    // In the library: the phone is a device of its own, named after the app.
    let key = h.key("ep-1");
    let resume = h.continue_from(&key).await;
    assert_eq!(resume.len(), 1, "{resume:?}");
    assert_eq!(
        resume[0].device_name.as_deref(),
        Some("AntennaPod on Pixel 7 (mobile) via node")
    );
    assert_eq!(resume[0].record.position, 754.0);
    assert_eq!(resume[0].record.duration, Some(3600.0));
    assert_eq!(
        resume[0].record.updated,
        skypod_gpodder::time::parse_iso(&ts).unwrap(),
        "stamped with the action's time"
    );

    // getEpisodeActionChanges(since=0): AntennaPod reads podcast, episode, action, guid,
    // timestamp (yyyy-MM-dd'T'HH:mm:ss) and, for play, started >= 0, position > 0, total > 0.
    let got = get_json(format!("/api/2/episodes/{USER}.json?since=0")).await;
    let actions = got["actions"].as_array().unwrap();
    let play = actions
        .iter()
        .find(|a| a["action"] == "play")
        .expect("play");
    assert_eq!(play["podcast"], h.feed.as_str());
    assert_eq!(play["episode"], format!("{}/ep1.mp3", h.media));
    assert_eq!(play["guid"], "ep-1");
    assert_eq!(play["timestamp"], ts.as_str());
    assert_eq!(play["position"], 754);
    assert_eq!(play["total"], 3600);
    assert!(play["started"].as_i64().unwrap() >= 0);
    assert_eq!(play["device"], dev);
    assert!(actions.iter().any(|a| a["action"] == "download"), "{got}");

    // logout() is a no-op in AntennaPod; the endpoint ends the session.
    let r = send(
        c.post(api(&format!("/api/2/auth/{USER}/logout.json")))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = send(
        c.get(api(&format!("/api/2/devices/{USER}.json")))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextcloud_flow_as_antennapod_sends_it() {
    let h = start().await;
    let c = client();
    // NextcloudSyncService: Basic + Accept: application/json on every request.
    let req = |m: reqwest::Method, p: &str| {
        c.request(m, format!("{}/index.php/apps/gpoddersync/{p}", h.url))
            .basic_auth(USER, Some(PASSWORD))
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "AntennaPod/3.6.0")
    };
    let got: Value = send_json(req(reqwest::Method::GET, "subscriptions?since=0")).await;
    assert_eq!(got["add"], json!([]));
    let since = got["timestamp"].as_i64().unwrap();
    let r = send(
        req(reqwest::Method::POST, "subscription_change/create")
            .header(header::CONTENT_TYPE, "application/json")
            .body(json!({"add": [h.feed], "remove": []}).to_string()),
    )
    .await;
    assert_eq!(r.status(), 200);
    let got: Value = send_json(req(
        reqwest::Method::GET,
        &format!("subscriptions?since={since}"),
    ))
    .await;
    assert_eq!(got["add"], json!([h.feed]), "{got}");

    // Actions without a device field, 30 per request.
    let ts = now_iso(-30);
    let r = send(req(reqwest::Method::POST, "episode_action/create")
        .header(header::CONTENT_TYPE, "application/json")
        .body(
            json!([{"podcast": h.feed, "episode": format!("{}/ep2.mp3", h.media), "guid": "ep-2",
                    "action": "play", "timestamp": ts, "started": 0, "position": 61, "total": 1200}])
            .to_string(),
        )).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let resume = h.continue_from(&h.key("ep-2")).await;
    assert_eq!(
        resume[0].device_name.as_deref(),
        Some("AntennaPod (mobile) via node")
    );
    assert_eq!(resume[0].record.position, 61.0);

    let got: Value = send_json(req(reqwest::Method::GET, "episode_action?since=0")).await;
    let a = &got["actions"][0];
    assert_eq!(a["position"], 61, "{got}");
    assert_eq!(a["episode"], format!("{}/ep2.mp3", h.media));

    // A wrong password: 401 with a Basic challenge, no hint.
    let r = send(
        c.get(format!(
            "{}/index.php/apps/gpoddersync/subscriptions",
            h.url
        ))
        .basic_auth(USER, Some("wrong password")),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(header::WWW_AUTHENTICATE).is_some());
    let wrong = r.text().await.unwrap();
    let r = send(
        c.get(format!(
            "{}/index.php/apps/gpoddersync/subscriptions",
            h.url
        ))
        .basic_auth("nobody", Some("wrong password")),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.text().await.unwrap(),
        wrong,
        "unknown user and wrong password look alike"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextcloud_login_flow_v2_as_antennapod_runs_it() {
    let h = start().await;
    let c = client();
    // NextcloudLoginFlow: POST /index.php/login/v2 (form body ""), read login + poll.
    let start: Value = send_json(
        c.post(format!("{}/index.php/login/v2", h.url))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(""),
    )
    .await;
    let login = start["login"].as_str().unwrap().to_owned();
    let endpoint = start["poll"]["endpoint"].as_str().unwrap().to_owned();
    let token = start["poll"]["token"].as_str().unwrap().to_owned();
    assert!(
        login.starts_with(&h.url) && endpoint.starts_with(&h.url),
        "{start}"
    );
    let poll = || {
        c.post(&endpoint)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    assert_eq!(poll().await.unwrap().status(), 404, "not logged in yet");
    // The browser: the form, a wrong password, then the right one.
    let form = c.get(&login).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("<form"), "{form}");
    let r = send(
        c.post(&login)
            .form(&[("user", USER), ("password", "nope nope")]),
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(poll().await.unwrap().status(), 404);
    let r = send(
        c.post(&login)
            .form(&[("user", USER), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(r.status(), 200);
    let done: Value = poll().await.unwrap().json().await.unwrap();
    assert_eq!(done["server"], h.url.as_str());
    assert_eq!(done["loginName"], USER);
    // The credentials work on the sync endpoints, and are handed out once.
    let r = send(
        c.get(format!(
            "{}/index.php/apps/gpoddersync/subscriptions?since=0",
            h.url
        ))
        .basic_auth(
            done["loginName"].as_str().unwrap(),
            done["appPassword"].as_str(),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(poll().await.unwrap().status(), 404);
}
