//! The HTTP routes: the gpodder.net API v2 subset sync clients use, the Simple API's
//! subscription list, and the Nextcloud gPodder Sync app's endpoints.
//!
//! Authentication: HTTP Basic on any request, or the `sessionid` cookie set by
//! `POST /api/2/auth/{user}/login.json` (AntennaPod logs in once and then sends the
//! cookie). Like gpodder.net, any request that succeeds on Basic alone also gets a session
//! cookie: mygpoclient answers only three Basic challenges per client and relies on the
//! cookie after that. Every refusal is a status with a one-line text body; a 401 never says whether
//! the user exists.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::bridge::{Bridge, NEXTCLOUD_DEVICE, WireAction};
use crate::error::ApiError;

type Shared = State<Arc<Bridge>>;
type Params = Query<HashMap<String, String>>;

/// The bridge's routes.
pub fn router(bridge: Arc<Bridge>) -> Router {
    let limit = bridge.cfg.max_body;
    Router::new()
        .route("/api/2/auth/{user}/login.json", post(login))
        .route("/api/2/auth/{user}/logout.json", post(logout))
        .route("/api/2/devices/{file}", get(list_devices))
        .route("/api/2/devices/{user}/{file}", post(update_device))
        .route(
            "/api/2/subscriptions/{user}/{file}",
            get(get_subscription_changes).post(post_subscription_changes),
        )
        .route(
            "/subscriptions/{user}/{file}",
            get(simple_get_subscriptions).put(simple_put_subscriptions),
        )
        .route(
            "/api/2/episodes/{file}",
            get(get_actions).post(post_actions),
        )
        .route(
            "/index.php/apps/gpoddersync/subscriptions",
            get(nc_subscriptions),
        )
        .route(
            "/index.php/apps/gpoddersync/subscription_change/create",
            post(nc_subscription_change),
        )
        .route(
            "/index.php/apps/gpoddersync/episode_action",
            get(nc_actions),
        )
        .route(
            "/index.php/apps/gpoddersync/episode_action/create",
            post(nc_upload_actions),
        )
        .route("/index.php/login/v2", post(crate::loginflow::start))
        .route(
            "/index.php/login/v2/flow/{id}",
            get(crate::loginflow::form).post(crate::loginflow::submit),
        )
        .route("/index.php/login/v2/poll", post(crate::loginflow::poll))
        .fallback(|| async { ApiError::not_found("no such endpoint on the Skypod gpodder bridge") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            limit,
            refuse_oversized_bodies,
        ))
        .layer(middleware::from_fn_with_state(
            bridge.clone(),
            session_for_basic_auth,
        ))
        .with_state(bridge)
}

// ----- authentication -----

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("sessionid=").map(str::to_owned))
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    // UTF-8 first, then ISO-8859-1 (AntennaPod retries with both).
    let text = String::from_utf8(raw.clone())
        .unwrap_or_else(|_| raw.iter().map(|&b| char::from(b)).collect());
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// How much of a refused body is read (and thrown away) before the 413 is sent, and for how
/// long at most.
const DRAIN_BYTES: u64 = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers a request whose declared body is over `limit` with 413 — after reading the body
/// and discarding it (up to `DRAIN_BYTES` for at most `DRAIN_TIME`). Answering at once and
/// closing the connection while the client is still sending makes its kernel get a reset,
/// which can destroy the 413 before the client reads it: the phone would see a broken
/// connection instead of a clear refusal (HTTP servers call this lingering close). Memory
/// stays bounded: each chunk is dropped as it arrives.
async fn refuse_oversized_bodies(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|&n| n > limit as u64) else {
        return next.run(req).await;
    };
    if declared <= DRAIN_BYTES {
        let mut body = req.into_body().into_data_stream();
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            use futures_util::StreamExt;
            while let Some(Ok(_chunk)) = body.next().await {}
        })
        .await;
    }
    let mut response = ApiError::too_large(declared, limit).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Gives a request that succeeded on HTTP Basic, without a live session, a `sessionid`
/// cookie. The handler has just verified the password, so the check here hits the cache.
async fn session_for_basic_auth(State(b): Shared, req: Request, next: Next) -> Response {
    let credentials = basic(req.headers());
    let has_session = session_cookie(req.headers())
        .and_then(|s| b.session_user(&s))
        .is_some();
    let mut response = next.run(req).await;
    if let Some((user, password)) = credentials
        && !has_session
        && response.status().is_success()
        && !response.headers().contains_key(header::SET_COOKIE)
        && matches!(b.check_password(&user, &password).await, Ok(true))
    {
        set_session_cookie(&mut response, &b.new_session(&user));
    }
    response
}

fn set_session_cookie(response: &mut Response, sid: &str) {
    let cookie = format!("sessionid={sid}; Path=/; HttpOnly; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// The authenticated user (Basic or session), which must be `path_user` when given.
async fn authenticate(
    b: &Bridge,
    headers: &HeaderMap,
    path_user: Option<&str>,
) -> Result<String, ApiError> {
    let user = if let Some((u, p)) = basic(headers) {
        if !b.check_password(&u, &p).await? {
            tracing::info!("gpodder bridge: refused credentials");
            return Err(ApiError::unauthorized());
        }
        u
    } else if let Some(u) = session_cookie(headers).and_then(|s| b.session_user(&s)) {
        u
    } else {
        return Err(ApiError::unauthorized());
    };
    if path_user.is_some_and(|p| p != user) {
        return Err(ApiError::unauthorized());
    }
    Ok(user)
}

fn strip_ext<'a>(file: &'a str, exts: &[&'a str]) -> Result<(&'a str, &'a str), ApiError> {
    for ext in exts {
        if let Some(stem) = file.strip_suffix(&format!(".{ext}"))
            && !stem.is_empty()
        {
            return Ok((stem, ext));
        }
    }
    Err(ApiError::not_found(format!(
        "{file:?}: expected a name ending in .{}",
        exts.join(" or .")
    )))
}

fn since(q: &HashMap<String, String>) -> Result<i64, ApiError> {
    match q.get("since") {
        None => Ok(0),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                ApiError::bad(format!("since={s:?} is not a Unix timestamp in seconds"))
            }),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("malformed {what}: {e}")))
}

// ----- gpodder.net API v2 -----

async fn login(
    State(b): Shared,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = authenticate(&b, &headers, Some(&user)).await?;
    let mut r = StatusCode::OK.into_response();
    set_session_cookie(&mut r, &b.new_session(&user));
    tracing::info!(%user, "gpodder bridge: login");
    Ok(r)
}

async fn logout(
    State(b): Shared,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    authenticate(&b, &headers, Some(&user)).await?;
    if let Some(s) = session_cookie(&headers) {
        b.end_session(&s);
    }
    Ok(StatusCode::OK)
}

async fn list_devices(
    State(b): Shared,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, _) = strip_ext(&file, &["json"])?;
    let user = authenticate(&b, &headers, Some(user)).await?;
    let (devs, subs) = b.devices(&user).await?;
    Ok(Json(json!(
        devs.iter()
            .map(
                |d| json!({"id": d.id, "caption": d.caption, "type": d.kind, "subscriptions": subs})
            )
            .collect::<Vec<_>>()
    )))
}

#[derive(Deserialize)]
struct DeviceUpdate {
    caption: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn update_device(
    State(b): Shared,
    Path((user, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (device, _) = strip_ext(&file, &["json"])?;
    let user = authenticate(&b, &headers, Some(&user)).await?;
    // AntennaPod sends an empty body when it has neither caption nor type.
    let upd: DeviceUpdate = if body.iter().all(u8::is_ascii_whitespace) {
        DeviceUpdate {
            caption: None,
            kind: None,
        }
    } else {
        parse_json(
            &body,
            "device settings (expected {\"caption\": ..., \"type\": ...})",
        )?
    };
    b.update_device(&user, device, upd.caption.as_deref(), upd.kind.as_deref())
        .await?;
    Ok(StatusCode::OK)
}

async fn get_subscription_changes(
    State(b): Shared,
    Path((user, file)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (device, _) = strip_ext(&file, &["json"])?;
    let user = authenticate(&b, &headers, Some(&user)).await?;
    b.require_device(&user, device).await?;
    let (add, remove, ts) = b.subscription_changes(since(&q)?).await?;
    Ok(Json(json!({"add": add, "remove": remove, "timestamp": ts})))
}

#[derive(Deserialize)]
struct SubscriptionDelta {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

async fn post_subscription_changes(
    State(b): Shared,
    Path((user, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (device, _) = strip_ext(&file, &["json"])?;
    let user = authenticate(&b, &headers, Some(&user)).await?;
    b.require_device(&user, device).await?;
    let d: SubscriptionDelta = parse_json(
        &body,
        "subscription changes (expected {\"add\": [...], \"remove\": [...]})",
    )?;
    let (update_urls, ts) = b.change_subscriptions(d.add, d.remove).await?;
    Ok(Json(json!({"timestamp": ts, "update_urls": update_urls})))
}

async fn simple_get_subscriptions(
    State(b): Shared,
    Path((user, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (device, ext) = strip_ext(&file, &["json", "txt", "opml"])?;
    let user = authenticate(&b, &headers, Some(&user)).await?;
    b.require_device(&user, device).await?;
    let urls = b.subscriptions().await?;
    Ok(match ext {
        "json" => Json(json!(urls)).into_response(),
        "txt" => {
            let mut t = urls.join("\n");
            t.push('\n');
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], t).into_response()
        }
        _ => {
            let mut t = String::from(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\"><head><title>Skypod subscriptions</title></head><body>\n",
            );
            for u in &urls {
                let esc = u
                    .replace('&', "&amp;")
                    .replace('"', "&quot;")
                    .replace('<', "&lt;");
                t.push_str(&format!(
                    "<outline type=\"rss\" text=\"{esc}\" xmlUrl=\"{esc}\"/>\n"
                ));
            }
            t.push_str("</body></opml>\n");
            ([(header::CONTENT_TYPE, "text/x-opml; charset=utf-8")], t).into_response()
        }
    })
}

async fn simple_put_subscriptions(
    State(b): Shared,
    Path((user, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (device, ext) = strip_ext(&file, &["json", "txt"])?;
    let user = authenticate(&b, &headers, Some(&user)).await?;
    b.require_device(&user, device).await?;
    let urls: Vec<String> = if ext == "json" {
        parse_json(&body, "subscription list (expected [\"url\", ...])")?
    } else {
        std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad("the subscription list is not UTF-8"))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    b.replace_subscriptions(urls).await?;
    Ok(StatusCode::OK)
}

async fn get_actions(
    State(b): Shared,
    Path(file): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, _) = strip_ext(&file, &["json"])?;
    let user = authenticate(&b, &headers, Some(user)).await?;
    if let Some(d) = q.get("device") {
        b.require_device(&user, d).await?;
    }
    let (actions, ts) = b
        .actions_since(
            &user,
            since(&q)?,
            q.get("podcast").map(String::as_str),
            q.get("device").map(String::as_str),
        )
        .await?;
    Ok(Json(json!({"actions": actions, "timestamp": ts})))
}

async fn post_actions(
    State(b): Shared,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, _) = strip_ext(&file, &["json"])?;
    let user = authenticate(&b, &headers, Some(user)).await?;
    let actions: Vec<WireAction> =
        parse_json(&body, "episode actions (expected a JSON array of actions)")?;
    let (update_urls, ts) = b.upload_actions(&user, actions, None).await?;
    Ok(Json(json!({"timestamp": ts, "update_urls": update_urls})))
}

// ----- Nextcloud gPodder Sync -----

/// The account's implicit device, registered on first use (named after the app).
async fn nc_device(b: &Bridge, user: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    b.nextcloud_device(user, ua).await
}

async fn nc_user(b: &Bridge, headers: &HeaderMap) -> Result<String, ApiError> {
    let user = authenticate(b, headers, None).await?;
    nc_device(b, &user, headers).await?;
    Ok(user)
}

async fn nc_subscriptions(
    State(b): Shared,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    nc_user(&b, &headers).await?;
    let (add, remove, ts) = b.subscription_changes(since(&q)?).await?;
    Ok(Json(json!({"add": add, "remove": remove, "timestamp": ts})))
}

async fn nc_subscription_change(
    State(b): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = authenticate(&b, &headers, None).await?;
    let d: SubscriptionDelta = parse_json(
        &body,
        "subscription changes (expected {\"add\": [...], \"remove\": [...]})",
    )?;
    nc_device(&b, &user, &headers).await?;
    let (_, ts) = b.change_subscriptions(d.add, d.remove).await?;
    Ok(Json(json!({"timestamp": ts})))
}

async fn nc_actions(
    State(b): Shared,
    Query(q): Params,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = nc_user(&b, &headers).await?;
    let (actions, ts) = b.actions_since(&user, since(&q)?, None, None).await?;
    Ok(Json(json!({"actions": actions, "timestamp": ts})))
}

async fn nc_upload_actions(
    State(b): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = authenticate(&b, &headers, None).await?;
    let actions: Vec<WireAction> =
        parse_json(&body, "episode actions (expected a JSON array of actions)")?;
    nc_device(&b, &user, &headers).await?;
    // The Nextcloud API has no device field: the account's one device.
    let actions = actions
        .into_iter()
        .map(|mut a| {
            a.device = None;
            a
        })
        .collect();
    let (_, ts) = b
        .upload_actions(&user, actions, Some(NEXTCLOUD_DEVICE))
        .await?;
    Ok(Json(json!({"timestamp": ts})))
}
