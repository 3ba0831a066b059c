//! The listening rules against the vectors shared with the web app
//! (`testdata/listening-rules.json`; `web/test/listening.test.ts` runs the same file).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use skypod_library::{
    Library, NewFeed, Patch, PodcastSettingsPatch, SettingValue, TrimLevel, next_in_queue,
};

const VECTORS: &str = include_str!("../../testdata/listening-rules.json");

fn lib_for<'a>(libs: &'a mut BTreeMap<String, Library>, device: &str) -> &'a mut Library {
    libs.entry(device.to_owned()).or_insert_with(|| {
        let mut l = Library::new(device).expect("new library");
        // Deterministic clock: the rules must not depend on wall time.
        l.set_clock(|| 1_700_000_000_000);
        l
    })
}

fn setting(v: &Value) -> SettingValue {
    match v {
        Value::Bool(b) => SettingValue::Bool(*b),
        Value::String(s) => SettingValue::Str(s.clone()),
        Value::Number(n) if n.is_i64() => SettingValue::Int(n.as_i64().expect("i64")),
        Value::Number(n) => SettingValue::Float(n.as_f64().expect("f64")),
        other => panic!("setting value {other}"),
    }
}

/// A JSON patch as the web app gets it: absent = keep, null = clear; a wrong type is an error.
fn patch(v: &Value) -> Result<PodcastSettingsPatch, String> {
    fn one<T>(v: &Value, key: &str, f: impl Fn(&Value) -> Option<T>) -> Result<Patch<T>, String> {
        match v.get(key) {
            None => Ok(Patch::Keep),
            Some(Value::Null) => Ok(Patch::Clear),
            Some(x) => f(x)
                .map(Patch::Set)
                .ok_or_else(|| format!("bad {key}: {x}")),
        }
    }
    Ok(PodcastSettingsPatch {
        speed: one(v, "speed", Value::as_f64)?,
        trim: one(v, "trim", |x| TrimLevel::parse(x.as_str()?).ok())?,
        boost: one(v, "boost", Value::as_bool)?,
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn sync_all(libs: &mut BTreeMap<String, Library>) {
    let names: Vec<String> = libs.keys().cloned().collect();
    let saved: Vec<Vec<u8>> = names
        .iter()
        .map(|n| libs.get_mut(n).expect("lib").save())
        .collect();
    for n in &names {
        for bytes in &saved {
            libs.get_mut(n)
                .expect("lib")
                .merge_bytes(bytes)
                .expect("merge");
        }
    }
}

/// Run one step; `Err` when the library refused it.
fn run(libs: &mut BTreeMap<String, Library>, step: &Value, ctx: &str) -> Result<Value, String> {
    let device = step["device"].as_str().expect("device");
    let op = step["op"].as_str().expect("op");
    let s = |k: &str| step[k].as_str().unwrap_or_default().to_owned();
    fn e<T>(r: Result<T, skypod_library::LibraryError>) -> Result<T, String> {
        r.map_err(|e| e.to_string())
    }
    if op == "sync" {
        sync_all(libs);
        return Ok(Value::Null);
    }
    let lib = lib_for(libs, device);
    let out = match op {
        "subscribe" => {
            e(lib.subscribe(NewFeed::url(s("feed"))))?;
            Value::Null
        }
        "queue_add" => json!(e(lib.queue_add(&s("episode")))?),
        "set_position" => {
            e(lib.set_position(&s("episode"), step["position"].as_f64().expect("pos"), None))?;
            Value::Null
        }
        "set_setting" => {
            e(lib.set_setting(&s("key"), setting(&step["value"])))?;
            Value::Null
        }
        "episode_ended" => {
            json!({ "next": e(lib.episode_ended(&s("episode"), step["duration"].as_f64()))? })
        }
        "set_download" => {
            // JSON sizes that are not a u64 (negative, fractional) are refused as the web app refuses them.
            let bytes = step["bytes"].as_u64().ok_or("not a byte count")?;
            e(lib.set_download(&s("episode"), bytes))?;
            Value::Null
        }
        "remove_download" => json!({ "removed": e(lib.remove_download(&s("episode")))? }),
        "set_podcast_settings" => {
            let p = patch(&step["settings"])?;
            e(lib.set_podcast_settings(&s("feed"), &p))?;
            Value::Null
        }
        "add_time_saved" => {
            e(lib.add_time_saved(&s("feed"), step["seconds"].as_f64().expect("seconds")))?;
            Value::Null
        }
        "check" => {
            check(lib, &step["expect"], ctx);
            Value::Null
        }
        other => panic!("{ctx}: unknown op {other}"),
    };
    lib.commit();
    Ok(out)
}

fn check(lib: &Library, want: &Value, ctx: &str) {
    let obj = want.as_object().expect("expect object");
    for (k, w) in obj {
        match k.as_str() {
            "queue" => assert_eq!(json!(lib.queue_list()), *w, "{ctx}: queue"),
            "play" => {
                let ep = w["episode"].as_str().expect("episode");
                let rec = lib.my_play(ep);
                if w["absent"].as_bool() == Some(true) {
                    assert!(rec.is_none(), "{ctx}: no record for {ep}");
                    continue;
                }
                let rec = rec.unwrap_or_else(|| panic!("{ctx}: record for {ep}"));
                assert_eq!(json!(rec.completed), w["completed"], "{ctx}: completed");
                assert!(
                    close(rec.position, w["position"].as_f64().expect("pos")),
                    "{ctx}: position {}",
                    rec.position
                );
            }
            "next_after" => {
                let cur = w["current"].as_str();
                assert_eq!(
                    json!(lib.next_in_queue(cur)),
                    w["next"],
                    "{ctx}: next_after"
                );
                assert_eq!(
                    lib.next_in_queue(cur),
                    next_in_queue(&lib.queue_list(), cur)
                );
            }
            "downloads" => {
                let d = lib.downloads_of(w["device"].as_str().expect("device"));
                assert_eq!(json!(d), w["value"], "{ctx}: downloads");
            }
            "holders" => {
                let h = lib.download_holders(w["episode"].as_str().expect("episode"));
                assert_eq!(json!(h), w["value"], "{ctx}: holders");
            }
            "podcast_settings" => {
                let p = lib
                    .podcast_settings(w["feed"].as_str().expect("feed"))
                    .expect("subscribed");
                assert_eq!(
                    serde_json::to_value(p).expect("json"),
                    w["value"],
                    "{ctx}: podcast settings"
                );
            }
            "effective_settings" => {
                let p = lib
                    .effective_settings(w["feed"].as_str().expect("feed"))
                    .expect("subscribed");
                let got = serde_json::to_value(p).expect("json");
                assert_eq!(got["trim"], w["value"]["trim"], "{ctx}: trim");
                assert_eq!(got["boost"], w["value"]["boost"], "{ctx}: boost");
                assert!(
                    close(
                        got["speed"].as_f64().expect("f"),
                        w["value"]["speed"].as_f64().expect("f")
                    ),
                    "{ctx}: speed"
                );
            }
            "time_saved" => {
                let got = lib.time_saved();
                let want = w.as_object().expect("map");
                assert_eq!(got.len(), want.len(), "{ctx}: time saved feeds {got:?}");
                for (feed, secs) in want {
                    assert!(
                        close(got[feed], secs.as_f64().expect("f")),
                        "{ctx}: time saved {feed} {got:?}"
                    );
                }
            }
            "time_saved_total" => {
                assert!(
                    close(lib.time_saved_total(), w.as_f64().expect("f")),
                    "{ctx}: total {}",
                    lib.time_saved_total()
                );
            }
            other => panic!("{ctx}: unknown expectation {other}"),
        }
    }
}

#[test]
fn listening_rules_match_the_shared_vectors() {
    let v: Value = serde_json::from_str(VECTORS).expect("vectors are JSON");
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut libs = BTreeMap::new();
        // Every device of the case exists from the start, so "sync" reaches it.
        for step in case["steps"].as_array().expect("steps") {
            lib_for(&mut libs, step["device"].as_str().expect("device"));
        }
        for (i, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
            let ctx = format!("{name} (step {i})");
            let device = step["device"].as_str().expect("device").to_owned();
            // A refused step must leave the document as it was.
            let before = lib_for(&mut libs, &device).save();
            let res = run(&mut libs, step, &ctx);
            if step["error"].as_bool() == Some(true) {
                assert!(res.is_err(), "{ctx}: expected a refusal, got {res:?}");
                assert_eq!(
                    libs.get_mut(&device).expect("lib").save(),
                    before,
                    "{ctx}: a refusal changed the document"
                );
                continue;
            }
            let out = res.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if let Some(want) = step.get("expect").filter(|_| step["op"] != "check") {
                for (k, w) in want.as_object().expect("expect") {
                    assert_eq!(out[k], *w, "{ctx}: {k}");
                }
            }
        }
    }
}

#[test]
fn refusals_are_sentences() {
    let mut lib = Library::new("d").expect("lib");
    let err = lib
        .add_time_saved("https://a.example/f", f64::NAN)
        .unwrap_err();
    assert!(err.to_string().contains("time saved"), "{err}");
    let err = lib
        .set_podcast_settings(
            "https://nowhere.example/f",
            &PodcastSettingsPatch::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not subscribed"), "{err}");
}
