//! Nextcloud Login Flow v2, which AntennaPod's "Nextcloud" sync option uses to get
//! credentials: the app POSTs `/index.php/login/v2`, opens the returned `login` page in the
//! browser, where the user enters the bridge account, and polls until it gets
//! `{server, loginName, appPassword}`. The "app password" is the account's password (the
//! bridge has no per-app passwords); it is held in memory only until the app polls it, at
//! most 20 minutes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::bridge::Bridge;
use crate::error::ApiError;

const TTL: Duration = Duration::from_secs(20 * 60);
const MAX_FLOWS: usize = 64;

struct Flow {
    poll_token: String,
    server: String,
    done: Option<(String, String)>,
    started: Instant,
}

/// Pending logins, by the id in the browser URL.
#[derive(Default)]
pub struct Flows(Mutex<HashMap<String, Flow>>);

fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `http(s)://host[:port]` as the app reached us (through a TLS proxy: X-Forwarded-Proto).
fn base_url(headers: &HeaderMap) -> Result<String, ApiError> {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'"' && b != b'<')
        })
        .ok_or_else(|| ApiError::bad("no usable Host header"))?;
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    Ok(format!("{scheme}://{host}"))
}

fn lock(f: &Flows) -> std::sync::MutexGuard<'_, HashMap<String, Flow>> {
    f.0.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `POST /index.php/login/v2`.
pub async fn start(
    State(b): State<Arc<Bridge>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let server = base_url(&headers)?;
    let (id, poll_token) = (random_hex(16), random_hex(32));
    let mut flows = lock(&b.flows);
    flows.retain(|_, f| f.started.elapsed() < TTL);
    if flows.len() >= MAX_FLOWS {
        return Err(ApiError::too_many(
            "too many logins in progress; try again in a minute",
            Duration::from_secs(60),
        ));
    }
    flows.insert(
        id.clone(),
        Flow {
            poll_token: poll_token.clone(),
            server: server.clone(),
            done: None,
            started: Instant::now(),
        },
    );
    Ok(Json(json!({
        "poll": {"token": poll_token, "endpoint": format!("{server}/index.php/login/v2/poll")},
        "login": format!("{server}/index.php/login/v2/flow/{id}"),
    })))
}

fn page(status: StatusCode, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>Skypod gpodder bridge</title></head><body style=\"font-family:sans-serif;max-width:28em;margin:2em auto\">\
             <h1>Skypod</h1>{body}</body></html>"
        )),
    )
        .into_response()
}

const FORM: &str = "<p>Log in with your bridge account (<code>skypod bridge user add NAME</code>).</p>\
    <form method=\"post\"><p><label>User <input name=\"user\" autocomplete=\"username\" required></label></p>\
    <p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
    <p><button>Log in</button></p></form>";

/// `GET /index.php/login/v2/flow/{id}`: the login form.
pub async fn form(State(b): State<Arc<Bridge>>, Path(id): Path<String>) -> Response {
    if lock(&b.flows)
        .get(&id)
        .is_none_or(|f| f.started.elapsed() >= TTL)
    {
        return page(
            StatusCode::NOT_FOUND,
            "<p>This login has expired. Start again in the app.</p>",
        );
    }
    page(StatusCode::OK, FORM)
}

#[derive(Deserialize)]
pub struct Credentials {
    user: String,
    password: String,
}

/// `POST /index.php/login/v2/flow/{id}`: check the account, complete the flow.
pub async fn submit(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    Form(c): Form<Credentials>,
) -> Result<Response, ApiError> {
    if lock(&b.flows)
        .get(&id)
        .is_none_or(|f| f.started.elapsed() >= TTL)
    {
        return Ok(page(
            StatusCode::NOT_FOUND,
            "<p>This login has expired. Start again in the app.</p>",
        ));
    }
    if !b.check_password(&c.user, &c.password).await? {
        return Ok(page(
            StatusCode::UNAUTHORIZED,
            &format!("<p><strong>Wrong user or password.</strong></p>{FORM}"),
        ));
    }
    if let Some(f) = lock(&b.flows).get_mut(&id) {
        f.done = Some((c.user, c.password));
    }
    Ok(page(
        StatusCode::OK,
        "<p>Logged in. Go back to the app.</p>",
    ))
}

#[derive(Deserialize)]
pub struct Poll {
    token: String,
}

/// `POST /index.php/login/v2/poll`: 404 until the user logged in, then the credentials, once.
pub async fn poll(
    State(b): State<Arc<Bridge>>,
    Form(p): Form<Poll>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut flows = lock(&b.flows);
    let id = flows
        .iter()
        .find(|(_, f)| f.poll_token == p.token && f.done.is_some())
        .map(|(id, _)| id.clone())
        .ok_or_else(|| ApiError::not_found("not logged in yet"))?;
    let f = flows
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("not logged in yet"))?;
    let (user, password) = f.done.unwrap_or_default();
    Ok(Json(
        json!({"server": f.server, "loginName": user, "appPassword": password}),
    ))
}
