//! The Skypod realm server: WebSocket signaling with signed identities, realm registration,
//! invitations, presence, signal relay and encrypted broadcast, on an embedded SQLite store.
//!
//! Entry point: [`Server::start`] binds, then [`Server::run_until`] serves until a shutdown
//! signal, closes every socket with "going away" and closes the store.

pub mod config;
pub mod conn;
pub mod error;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod preauth;
pub mod proxy;
pub mod ratelimit;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::ServerConfig;
use hub::{CloseReason, Hub};
use state::AppState;
use store::RealmStore;
use store::sqlite::SqliteStore;

pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    extra: axum::Router,
}

impl Server {
    /// Open the store and bind the listener (so the address is known before serving).
    pub async fn start(cfg: ServerConfig) -> anyhow::Result<Self> {
        let store: Arc<dyn RealmStore> =
            Arc::new(SqliteStore::open(&cfg.data_dir, cfg.durability).await?);
        let metrics = Arc::new(metrics::Metrics::default());
        let hub = Hub::new(store, metrics.clone());
        let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
        let mut feeds_cfg = skypod_feeds::ServiceConfig::new(cfg.data_dir.join("feeds"));
        feeds_cfg.cache.max_bytes = cfg.proxy_cache_bytes;
        feeds_cfg.fetch.allow = cfg.proxy_allow.clone();
        feeds_cfg.directory = skypod_feeds::directory::DirectoryConfig::from_options(
            &cfg.directory,
            cfg.directory_url.as_deref(),
            cfg.podcastindex_key.as_deref(),
            cfg.podcastindex_secret.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("--directory: {e}"))?;
        let feeds = skypod_feeds::FeedService::new(feeds_cfg).await?;
        let state = AppState::new(cfg, hub, metrics);
        let auth = Arc::new(proxy::RealmProxyAuth::new(state.clone()));
        let limits = skypod_feeds::RateLimitConfig {
            burst: state.cfg.proxy_rate_burst,
            per_second: state.cfg.proxy_rate_per_sec,
        };
        let extra = skypod_feeds::router(feeds, auth, limits);
        Ok(Self {
            listener,
            state,
            extra,
        })
    }

    /// Routes served beside the realm server (the web app, the feed proxy).
    pub fn merge(mut self, router: axum::Router) -> Self {
        self.extra = self.extra.merge(router);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then close every connection and the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let app = http::router(self.state.clone())
            .merge(self.extra)
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let notify = async move {
            shutdown.await;
            let _ = tx.send(());
        };
        tokio::spawn(notify);
        let closing = state.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
                tracing::info!("shutting down: closing connections");
                closing.hub.close_all(CloseReason::SHUTDOWN);
            })
            .await?;
        // Upgraded sockets outlive the HTTP server; give them a moment to send their close.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while state.open_sockets.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            state.hub.close_all(CloseReason::SHUTDOWN);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        state.hub.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
