//! Prometheus metrics (`/metrics`). Handles are held directly so the hot path is one atomic
//! add, never a registry lookup.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeInfo {
    pub node: String,
    pub store: String,
    pub bus: String,
}

pub struct Metrics {
    registry: Registry,
    /// Always 1, labelled with this node's id, store and bus (so a scrape of several nodes
    /// tells them apart).
    pub node: Family<NodeInfo, Gauge>,
    /// 1 while the cluster bus is connected (always 0 without one).
    pub bus_up: Gauge,
    /// Members online on other nodes, as this node knows them.
    pub bus_remote_members: Gauge,
    /// Messages published to / received from the cluster bus.
    pub bus_published: Counter,
    pub bus_received: Counter,
    /// Messages that could not be published (bus outbox full or publish failed).
    pub bus_dropped: Counter,
    /// Open WebSocket connections (authenticated or not).
    pub sockets: Gauge,
    /// Authenticated connections.
    pub authenticated: Gauge,
    /// Realms held in memory.
    pub realms_loaded: Gauge,
    /// Frames delivered to members, by kind (broadcast, signal, presence).
    pub routed: Family<Kind, Counter>,
    /// Frames received from clients.
    pub received: Counter,
    /// Authentications that succeeded, by method.
    pub auth_ok: Family<Kind, Counter>,
    /// Authentications refused, by reason.
    pub auth_failures: Family<Reason, Counter>,
    /// Frames refused after authentication, by reason.
    pub rejected: Family<Reason, Counter>,
    /// Connections closed by the server, by reason.
    pub closed: Family<Reason, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("skypod");
        let m = Metrics {
            node: Family::default(),
            bus_up: Gauge::default(),
            bus_remote_members: Gauge::default(),
            bus_published: Counter::default(),
            bus_received: Counter::default(),
            bus_dropped: Counter::default(),
            sockets: Gauge::default(),
            authenticated: Gauge::default(),
            realms_loaded: Gauge::default(),
            routed: Family::default(),
            received: Counter::default(),
            auth_ok: Family::default(),
            auth_failures: Family::default(),
            rejected: Family::default(),
            closed: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "websocket_connections",
            "Open WebSocket connections",
            m.sockets.clone(),
        );
        registry.register(
            "authenticated_connections",
            "Authenticated connections",
            m.authenticated.clone(),
        );
        registry.register(
            "realms_loaded",
            "Realms held in memory",
            m.realms_loaded.clone(),
        );
        registry.register(
            "messages_routed",
            "Frames delivered to members, by kind",
            m.routed.clone(),
        );
        registry.register(
            "frames_received",
            "Frames received from clients",
            m.received.clone(),
        );
        registry.register(
            "auth_successes",
            "Successful authentications, by method",
            m.auth_ok.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused authentications, by reason",
            m.auth_failures.clone(),
        );
        registry.register(
            "frames_rejected",
            "Refused frames after authentication, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections closed by the server, by reason",
            m.closed.clone(),
        );
        registry.register("node", "This node: id, store and bus", m.node.clone());
        registry.register(
            "bus_up",
            "1 while the cluster bus is connected",
            m.bus_up.clone(),
        );
        registry.register(
            "bus_remote_members",
            "Members online on other nodes",
            m.bus_remote_members.clone(),
        );
        registry.register(
            "bus_published",
            "Messages published to the cluster bus",
            m.bus_published.clone(),
        );
        registry.register(
            "bus_received",
            "Messages received from the cluster bus",
            m.bus_received.clone(),
        );
        registry.register(
            "bus_dropped",
            "Cluster bus messages dropped (outbox full or publish failed)",
            m.bus_dropped.clone(),
        );
        Metrics { registry, ..m }
    }
}

/// The feed proxy's count of analyses decoded on this node, read at each scrape.
struct ProxyAnalyses(skypod_feeds::FeedService);

impl std::fmt::Debug for ProxyAnalyses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyAnalyses")
    }
}

impl EncodeMetric for ProxyAnalyses {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.0.analyses_run(), None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl Metrics {
    /// Export the feed proxy's counters (`skypod_proxy_analyses_total`).
    pub fn register_proxy(&mut self, feeds: skypod_feeds::FeedService) {
        self.registry.register(
            "proxy_analyses",
            "Audio analyses (silence maps, loudness) decoded on this node; results read from \
             the analysis store, also those another node computed, do not count",
            ProxyAnalyses(feeds),
        );
    }

    pub fn auth_failed(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&Reason { reason }).inc();
    }

    pub fn reject(&self, reason: &'static str) {
        self.rejected.get_or_create(&Reason { reason }).inc();
    }

    pub fn close(&self, reason: &'static str) {
        self.closed.get_or_create(&Reason { reason }).inc();
    }

    pub fn routed(&self, kind: &'static str, n: u64) {
        self.routed.get_or_create(&Kind { kind }).inc_by(n);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
