//! HTTP routes: `/realm` (WebSocket), `/healthz`, `/metrics`.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::atomic::Ordering;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::error::AppError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/realm", get(realm_socket))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The WebSocket upgrade, done here rather than with axum's `ws` so the connection owns a
/// tungstenite stream it can send fragmented frames on (large messages then never grow a
/// socket's write buffer for good; see `conn::feed_text`).
async fn realm_socket(
    State(state): State<AppState>,
    mut req: Request,
) -> Result<Response, AppError> {
    let headers = req.headers();
    let key = websocket_key(headers).ok_or_else(|| {
        AppError::BadRequest("expected a WebSocket upgrade (version 13) on /realm".into())
    })?;
    let accept = derive_accept_key(key.as_bytes());
    let cfg = &state.cfg;
    if state.hub.bus().is_some_and(|b| !b.is_up()) {
        state.metrics.reject("bus_down");
        return Err(AppError::Unavailable(
            "this node lost its cluster bus; connect to another node or try again shortly".into(),
        ));
    }
    // Reserve a slot before upgrading; the connection task releases it.
    let open = state.open_sockets.fetch_add(1, Ordering::Relaxed);
    if open >= cfg.max_connections {
        state.open_sockets.fetch_sub(1, Ordering::Relaxed);
        state.metrics.reject("max_connections");
        return Err(AppError::Unavailable(format!(
            "server is at its limit of {} connections",
            cfg.max_connections
        )));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    // Frame limits are enforced below tungstenite, at the headers (`wsio`); its own limits
    // are a backstop.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(cfg.ws_read_buffer)
        .write_buffer_size(cfg.ws_write_buffer)
        .max_write_buffer_size(cfg.ws_write_buffer.max(cfg.max_frame_bytes) * 64)
        .max_message_size(Some(cfg.max_frame_bytes))
        .max_frame_size(Some(cfg.max_frame_bytes));
    let st = state.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = hyper_util::rt::TokioIo::new(upgraded);
                let io = crate::coalesce::WriteCoalescer::new(io, crate::coalesce::DEFAULT_CAP);
                let io = crate::wsio::GuardedIo::new(io, st.read_limits.clone());
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await;
                crate::conn::run(st, ws).await;
            }
            Err(e) => {
                st.open_sockets.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "websocket upgrade failed");
            }
        }
    });
    let mut res = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(|e| AppError::Internal(e.into()))?,
    );
    Ok(res)
}

fn websocket_key(h: &HeaderMap) -> Option<String> {
    let has = |name: header::HeaderName, token: &str| {
        h.get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has(header::CONNECTION, "upgrade") || !has(header::UPGRADE, "websocket") {
        return None;
    }
    if h.get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return None;
    }
    h.get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// 200 when the store answers and the bus (if any) is connected, else 503; the body says
/// which, as JSON.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.hub.store();
    let store_ok = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await,
        Ok(Ok(()))
    );
    let bus = state.hub.bus();
    let bus_ok = bus.is_none_or(|b| b.is_up());
    let ok = store_ok && bus_ok;
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "node": state.cfg.node_id.as_deref().unwrap_or(""),
        "store": { "kind": store.kind(), "ok": store_ok },
        "bus": { "kind": if bus.is_some() { "nats" } else { "none" }, "ok": bus_ok },
        "sockets": state.open_sockets.load(Ordering::Relaxed),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
