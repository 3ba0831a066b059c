//! The one state every handler shares.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::config::ServerConfig;
use crate::hub::Hub;
use crate::listener::HttpPhase;
use crate::metrics::Metrics;
use crate::wsio::ReadLimits;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: ServerConfig,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    /// Open WebSocket connections, checked against `max_connections` before upgrading.
    pub open_sockets: AtomicUsize,
    /// Connections not yet upgraded (capped, see [`crate::listener`]).
    pub http_phase: Arc<HttpPhase>,
    /// Frame limits and the read budget every WebSocket shares.
    pub read_limits: ReadLimits,
}

impl AppState {
    pub fn new(cfg: ServerConfig, hub: Hub, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Inner {
            http_phase: HttpPhase::new(cfg.max_http_phase),
            read_limits: cfg.read_limits(),
            cfg,
            hub,
            metrics,
            open_sockets: AtomicUsize::new(0),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
