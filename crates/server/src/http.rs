//! HTTP routes: `/realm` (WebSocket), `/healthz`, `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::atomic::Ordering;

use crate::error::AppError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/realm", get(realm_socket))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn realm_socket(State(state): State<AppState>, ws: WebSocketUpgrade) -> Result<Response, AppError> {
    let cfg = &state.cfg;
    // Reserve a slot before upgrading; the connection task releases it.
    let open = state.open_sockets.fetch_add(1, Ordering::Relaxed);
    if open >= cfg.max_connections {
        state.open_sockets.fetch_sub(1, Ordering::Relaxed);
        state.metrics.reject("max_connections");
        return Err(AppError::Unavailable(format!("server is at its limit of {} connections", cfg.max_connections)));
    }
    let st = state.clone();
    let st_failed = state.clone();
    Ok(ws
        .read_buffer_size(cfg.ws_read_buffer)
        .write_buffer_size(cfg.ws_write_buffer)
        .max_write_buffer_size(cfg.ws_write_buffer.max(cfg.max_frame_bytes) * 64)
        // The WebSocket layer reads frames up to 4x the limit whole, so the connection can
        // refuse them with a close frame the client actually receives; beyond that it drops.
        .max_message_size(cfg.max_frame_bytes.saturating_mul(4))
        .max_frame_size(cfg.max_frame_bytes.saturating_mul(4))
        .on_failed_upgrade(move |e| {
            st_failed.open_sockets.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "websocket upgrade failed");
        })
        .on_upgrade(move |socket| crate::conn::run(st, socket)))
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
}
