//! The Skypod realm server: WebSocket signaling with signed identities, realm registration,
//! invitations, presence, signal relay and encrypted broadcast, on an embedded SQLite store;
//! or one node of several sharing a PostgreSQL store and a NATS bus ([`cluster`]).
//!
//! Entry point: [`Server::start`] binds, then [`Server::run_until`] serves until a shutdown
//! signal, closes every socket with "going away" and closes the store.

pub mod cluster;
pub mod coalesce;
pub mod config;
pub mod conn;
pub mod error;
pub mod http;
pub mod hub;
pub mod listener;
pub mod metrics;
pub mod msg;
pub mod preauth;
pub mod proxy;
pub mod ratelimit;
pub mod state;
pub mod store;
pub mod wsio;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::ServerConfig;
use hub::{CloseReason, Hub};
use skypod_feeds::analyses::AnalysisStore;
use state::AppState;
use store::RealmStore;
use store::postgres::{PgAnalyses, PgStore};
use store::sqlite::SqliteStore;

pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    extra: axum::Router,
    bus: Option<Arc<cluster::nats::NatsBus>>,
}

impl Server {
    /// Open the store and bind the listener (so the address is known before serving).
    pub async fn start(mut cfg: ServerConfig) -> anyhow::Result<Self> {
        cfg.check()?;
        let node = cfg.node_id();
        cfg.node_id = Some(node.clone());
        // With a shared store, the feed proxy's analysis results are shared through it too
        // (bodies stay in each node's own cache).
        let (store, analyses): (Arc<dyn RealmStore>, Option<Arc<dyn AnalysisStore>>) =
            match &cfg.store {
                Some(url) => {
                    let store = Arc::new(PgStore::connect(url).await?);
                    let analyses = Arc::new(PgAnalyses::connect(url)?);
                    analyses.spawn_pruning();
                    (store, Some(analyses as Arc<dyn AnalysisStore>))
                }
                None => (
                    Arc::new(SqliteStore::open(&cfg.data_dir, cfg.durability).await?),
                    None,
                ),
            };
        let bus = match &cfg.bus {
            Some(url) => Some(cluster::nats::NatsBus::connect(url, &node, &cfg.bus_prefix).await?),
            None => None,
        };
        let mut metrics = metrics::Metrics::default();
        metrics
            .node
            .get_or_create(&metrics::NodeInfo {
                node: node.clone(),
                store: store.kind().into(),
                bus: if bus.is_some() { "nats" } else { "none" }.into(),
            })
            .set(1);
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
        let feeds = skypod_feeds::FeedService::with_analyses(feeds_cfg, analyses).await?;
        metrics.register_proxy(feeds.clone());
        let metrics = Arc::new(metrics);
        let mut hub = Hub::new(store, metrics.clone());
        if let Some(b) = &bus {
            hub = hub.with_bus(b.clone());
        }
        let state = AppState::new(cfg, hub, metrics);
        if let Some(b) = &bus {
            b.run(state.clone()).await?;
            tracing::info!(node = %node, "joined the cluster bus");
        }
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
            bus,
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
        let closing = state.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: closing connections");
            closing.hub.close_all(CloseReason::SHUTDOWN);
        };
        listener::serve(
            self.listener,
            app,
            listener::ServeOptions {
                header_timeout: state.cfg.header_timeout(),
                nodelay: state.cfg.tcp_nodelay,
                drain: Duration::from_secs(5),
            },
            state.http_phase.clone(),
            state.metrics.clone(),
            shutdown,
        )
        .await;
        // Upgraded sockets outlive the HTTP server; give them a moment to send their close.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while state.open_sockets.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            state.hub.close_all(CloseReason::SHUTDOWN);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(bus) = &self.bus {
            bus.goodbye().await;
        }
        state.hub.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
