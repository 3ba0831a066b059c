//! The one state every handler shares.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::config::ServerConfig;
use crate::hub::Hub;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: ServerConfig,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    /// Open WebSocket connections, checked against `max_connections` before upgrading.
    pub open_sockets: AtomicUsize,
}

impl AppState {
    pub fn new(cfg: ServerConfig, hub: Hub, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Inner {
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
