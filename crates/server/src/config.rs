//! Server configuration: every limit has a flag, an environment variable and a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use skypod_protocol::TokenRules;

use crate::store::sqlite::Durability;

/// `skypod serve` options.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on. Use 0.0.0.0:8080 to serve your network (put TLS in front).
    #[arg(long, env = "SKYPOD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the realm store (SQLite) and caches live.
    #[arg(long, env = "SKYPOD_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,

    /// SQLite durability: `full` fsyncs every commit (nothing acknowledged is lost on power
    /// failure); `normal` only survives process crashes.
    #[arg(long, env = "SKYPOD_DURABILITY", value_enum, default_value = "full")]
    pub durability: Durability,

    /// Largest WebSocket frame/message accepted, bytes.
    #[arg(long, env = "SKYPOD_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Largest WebSocket message accepted before authentication, bytes (the first message
    /// only carries a token).
    #[arg(long, env = "SKYPOD_PREAUTH_FRAME_BYTES", default_value_t = 4 * 1024)]
    pub preauth_frame_bytes: usize,

    /// Bytes that messages larger than 2 KiB may hold in the server while they arrive, all
    /// sockets together; a socket whose message needs more waits (see `wsio.rs`).
    #[arg(long, env = "SKYPOD_READ_BUDGET_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub read_budget_bytes: usize,

    /// Time a message larger than 2 KiB has to arrive once started, milliseconds.
    #[arg(long, env = "SKYPOD_FRAME_TIMEOUT_MS", default_value_t = 10_000)]
    pub frame_timeout_ms: u64,

    /// Most simultaneous WebSocket connections; more are refused with 503.
    #[arg(long, env = "SKYPOD_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Messages per second a connection may send, sustained.
    #[arg(long, env = "SKYPOD_RATE", default_value_t = 100.0)]
    pub rate_per_sec: f64,

    /// Messages a connection may send in a burst above the sustained rate.
    #[arg(long, env = "SKYPOD_RATE_BURST", default_value_t = 200.0)]
    pub rate_burst: f64,

    /// Close a connection that sends nothing (not even a ping) for this long, seconds.
    #[arg(long, env = "SKYPOD_IDLE_TIMEOUT", default_value_t = 90)]
    pub idle_timeout_secs: u64,

    /// Time allowed for the first (authentication) message, milliseconds.
    #[arg(long, env = "SKYPOD_AUTH_TIMEOUT_MS", default_value_t = 3000)]
    pub auth_timeout_ms: u64,

    /// Time a client has to send its HTTP request head (the WebSocket upgrade included),
    /// milliseconds; silent and trickling connections are closed after it.
    #[arg(long, env = "SKYPOD_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Most connections still in the HTTP phase (not upgraded, no request in progress); at
    /// the cap the oldest is closed to make room.
    #[arg(long, env = "SKYPOD_MAX_HTTP_PHASE", default_value_t = 1024)]
    pub max_http_phase: usize,

    /// Set TCP_NODELAY on accepted sockets (answers of several frames are then not held back
    /// by Nagle's algorithm; `false` only to measure the difference).
    #[arg(long, env = "SKYPOD_TCP_NODELAY", default_value_t = true, action = clap::ArgAction::Set)]
    pub tcp_nodelay: bool,

    /// Frames queued for a slow reader before it is disconnected.
    #[arg(long, env = "SKYPOD_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Per-socket read buffer, bytes. It grows to fit the largest frame read, so a small start
    /// keeps idle sockets cheap.
    #[arg(long, env = "SKYPOD_WS_READ_BUFFER", default_value_t = 512)]
    pub ws_read_buffer: usize,

    /// Per-socket write batching threshold, bytes; larger messages are sent as fragments of
    /// this size.
    #[arg(long, env = "SKYPOD_WS_WRITE_BUFFER", default_value_t = 1024)]
    pub ws_write_buffer: usize,

    /// Feed proxy cache size cap, bytes (bodies are stored once by content hash).
    #[arg(long, env = "SKYPOD_PROXY_CACHE_BYTES", default_value_t = 1 << 30)]
    pub proxy_cache_bytes: u64,

    /// Feed proxy requests per second per identity, sustained.
    #[arg(long, env = "SKYPOD_PROXY_RATE", default_value_t = 2.0)]
    pub proxy_rate_per_sec: f64,

    /// Feed proxy requests per identity in a burst.
    #[arg(long, env = "SKYPOD_PROXY_RATE_BURST", default_value_t = 60)]
    pub proxy_rate_burst: u32,

    /// FOR TESTS ONLY: private/loopback networks the feed proxy may fetch from (CIDR,
    /// repeatable). By default every loopback, private, link-local and metadata address is
    /// refused. The flag exists only in builds with the `test-hooks` feature (the test
    /// suites' builds), never in a release binary; code embedding the server may set the
    /// field directly.
    #[cfg_attr(
        feature = "test-hooks",
        arg(
            long = "proxy-allow-for-tests",
            env = "SKYPOD_PROXY_ALLOW_FOR_TESTS",
            value_delimiter = ','
        )
    )]
    #[cfg_attr(not(feature = "test-hooks"), arg(skip))]
    pub proxy_allow: Vec<ipnet::IpNet>,

    /// Shared realm store for several nodes: `postgres://user@host:5432/db`. Without it, the
    /// embedded SQLite store in the data dir (one node).
    #[arg(long, env = "SKYPOD_STORE")]
    pub store: Option<String>,

    /// Cluster bus joining this node to others: `nats://host:4222`. Needs `--store`.
    #[arg(long, env = "SKYPOD_BUS")]
    pub bus: Option<String>,

    /// This node's name in the cluster, in /healthz and /metrics (letters, digits, '-', '_').
    /// Default: a random `node-…` per start.
    #[arg(long, env = "SKYPOD_NODE_ID")]
    pub node_id: Option<String>,

    /// Prefix of the cluster bus subjects, so several clusters can share one NATS.
    #[arg(long, env = "SKYPOD_BUS_PREFIX", default_value = "skypod")]
    pub bus_prefix: String,

    /// Podcast directory searched by `/proxy/directory` (members only): `itunes` (the iTunes
    /// Search API, no key), `podcastindex` (needs --podcastindex-key and --podcastindex-secret)
    /// or `none`.
    #[arg(long, env = "SKYPOD_DIRECTORY", default_value = "itunes")]
    pub directory: String,

    /// The directory's search endpoint, instead of the public one of the chosen directory
    /// (a mirror, or a fixture in tests).
    #[arg(long, env = "SKYPOD_DIRECTORY_URL")]
    pub directory_url: Option<String>,

    /// Podcast Index API key (with --directory podcastindex).
    #[arg(long, env = "SKYPOD_PODCASTINDEX_KEY")]
    pub podcastindex_key: Option<String>,

    /// Podcast Index API secret (with --directory podcastindex).
    #[arg(long, env = "SKYPOD_PODCASTINDEX_SECRET", hide_env_values = true)]
    pub podcastindex_secret: Option<String>,

    /// Clock skew tolerated on token `iat`/`exp`, seconds.
    #[arg(long, env = "SKYPOD_CLOCK_SKEW", default_value_t = 30)]
    pub clock_skew_secs: i64,
}

pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("skypod");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/skypod");
    }
    PathBuf::from("skypod-data")
}

impl ServerConfig {
    /// Defaults, as the CLI would give them, for a given data dir (tests, embedding).
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            cfg: ServerConfig,
        }
        let mut cfg = Wrap::parse_from(["skypod"]).cfg;
        cfg.data_dir = data_dir;
        cfg
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn auth_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_timeout_ms)
    }

    /// What a socket's reader may hold (one budget shared by every socket).
    pub fn read_limits(&self) -> crate::wsio::ReadLimits {
        crate::wsio::ReadLimits::new(
            self.preauth_frame_bytes.min(self.max_frame_bytes),
            self.max_frame_bytes,
            crate::wsio::FREE_PER_MESSAGE,
            self.read_budget_bytes,
            Duration::from_millis(self.frame_timeout_ms),
        )
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// The node id: `--node-id`, or a random one.
    pub fn node_id(&self) -> String {
        self.node_id
            .clone()
            .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>()))
    }

    /// Refuse combinations that cannot work, with a sentence saying why.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(store) = &self.store
            && !(store.starts_with("postgres://") || store.starts_with("postgresql://"))
        {
            anyhow::bail!(
                "--store must be a postgres://user@host:5432/db URL (without --store the embedded SQLite store in the data dir is used)"
            );
        }
        if self.bus.is_some() && self.store.is_none() {
            anyhow::bail!(
                "--bus needs a shared --store postgres://...: nodes on their own SQLite files would each admit members and spend invitations the others never see"
            );
        }
        if let Some(bus) = &self.bus
            && !(bus.starts_with("nats://") || bus.starts_with("tls://"))
        {
            anyhow::bail!("--bus must be a nats://host:4222 URL");
        }
        if let Some(id) = &self.node_id
            && !crate::cluster::nats::valid_node_id(id)
        {
            anyhow::bail!("--node-id must be 1-64 letters, digits, '-' or '_': {id:?}");
        }
        Ok(())
    }

    pub fn token_rules(&self) -> TokenRules {
        TokenRules {
            skew: self.clock_skew_secs,
            ..TokenRules::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let c = ServerConfig::with_data_dir("/tmp/x".into());
        assert_eq!(c.auth_timeout(), Duration::from_secs(3));
        assert_eq!(c.listen.ip().to_string(), "127.0.0.1");
        assert_eq!(c.durability, Durability::Full);
        assert!(c.max_frame_bytes >= 16 * 1024);
        assert!(c.store.is_none() && c.bus.is_none());
        c.check().unwrap();
    }

    #[test]
    fn a_bus_without_a_shared_store_is_refused() {
        let mut c = ServerConfig::with_data_dir("/tmp/x".into());
        c.bus = Some("nats://127.0.0.1:4222".into());
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("--bus needs a shared --store"), "{e}");
        c.store = Some("mysql://x".into());
        assert!(c.check().unwrap_err().to_string().contains("postgres://"));
        c.store = Some("postgres://u@h/db".into());
        c.check().unwrap();
        c.node_id = Some("bad id.with.dots".into());
        assert!(c.check().is_err());
    }

    /// `cargo test -p skypod-server` builds without the feature (the flag must be absent,
    /// as in a release binary); the workspace's tests build with it (present).
    #[test]
    fn the_ssrf_bypass_flag_exists_only_with_test_hooks() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            cfg: ServerConfig,
        }
        let has = Wrap::command()
            .get_arguments()
            .any(|a| a.get_long() == Some("proxy-allow-for-tests"));
        assert_eq!(has, cfg!(feature = "test-hooks"));
    }
}
