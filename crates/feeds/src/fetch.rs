//! SSRF-safe HTTP fetching.
//!
//! * Every host name is resolved by [`GuardedResolver`], which refuses the whole
//!   name if any of its addresses is loopback, private, link-local, CGNAT, ULA,
//!   multicast, unspecified, documentation/reserved, or an IPv4-mapped/NAT64/6to4
//!   embedding of one of those. reqwest then connects only to the vetted addresses
//!   the resolver returned, so there is no time-of-check/time-of-use gap.
//! * IP-literal URLs skip DNS in the connector, so they are vetted before sending.
//! * Redirects are followed by hand (reqwest's policy is `none`) so the checks run
//!   on every hop, with a hop limit.
//! * Timeouts: connect, idle read (slow-loris) and total; the body is capped while
//!   streaming (after gzip/brotli decoding, so compression bombs are caught).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::{Host, Url};

use crate::error::{FeedError, Result};

/// Fetcher settings.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Maximum time between two reads of the response (slow-loris guard).
    pub read_timeout: Duration,
    /// Maximum time for the whole exchange including the body.
    pub total_timeout: Duration,
    /// Default body cap in bytes (decoded size).
    pub max_body: u64,
    /// Maximum number of redirects followed.
    pub max_redirects: usize,
    /// Networks that are allowed even though the guard would refuse them.
    /// **For tests only** (e.g. `127.0.0.1/32` for a loopback fixture server).
    pub allow: Vec<IpNet>,
    /// User-Agent header.
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            total_timeout: Duration::from_secs(60),
            max_body: 16 * 1024 * 1024,
            max_redirects: 5,
            allow: Vec::new(),
            user_agent: concat!("Skypod-FeedProxy/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Why an address is refused, or `None` if it is a public unicast address.
pub fn refused_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RULES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified/this-network"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([169, 254, 0, 0], 16, "link-local/metadata"),
        ([100, 64, 0, 0], 10, "cgnat"),
        ([192, 0, 0, 0], 24, "ietf-reserved"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved/broadcast"),
    ];
    RULES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, why)| *why)
}

/// The IPv4 address carried in two 16-bit segments of an IPv6 address (high first).
fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d
    if seg[0..5] == [0, 0, 0, 0, 0] && (seg[5] == 0xffff || seg[5] == 0) {
        let v4 = embedded_v4(seg[6], seg[7]);
        return refused_v4(v4).or(if seg[5] == 0 {
            Some("ipv4-compatible")
        } else {
            None
        });
    }
    // NAT64 well-known prefix 64:ff9b::/96
    if seg[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = embedded_v4(seg[6], seg[7]);
        return refused_v4(v4).map(|_| "nat64-embedded");
    }
    // 6to4 2002:V4ADDR::/48
    if seg[0] == 0x2002 {
        let v4 = embedded_v4(seg[1], seg[2]);
        return refused_v4(v4).map(|_| "6to4-embedded");
    }
    match seg[0] {
        s if s & 0xfe00 == 0xfc00 => Some("unique-local"),
        s if s & 0xffc0 == 0xfe80 => Some("link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("site-local"),
        s if s & 0xff00 == 0xff00 => Some("multicast"),
        0x2001 if seg[1] == 0x0db8 => Some("documentation"),
        0x0100 if seg[1..4] == [0, 0, 0] => Some("discard-only"),
        _ => None,
    }
}

/// Whether `ip` may be connected to, given the test allow-list.
pub fn is_allowed(ip: IpAddr, allow: &[IpNet]) -> bool {
    if allow.iter().any(|net| net.contains(&ip)) {
        return true;
    }
    refused_reason(ip).is_none()
}

/// Resolver error: a name resolved to a refused address.
#[derive(Debug, thiserror::Error)]
#[error("host {host} resolves to refused address {addr}")]
struct Blocked {
    host: String,
    addr: IpAddr,
}

/// Resolver error: the name did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {0}")]
struct DnsFailed(String);

/// reqwest DNS resolver that vets every address (see module docs).
#[derive(Clone)]
pub struct GuardedResolver {
    allow: Arc<Vec<IpNet>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow = self.allow.clone();
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((host.clone(), 0u16)).await;
            let addrs: Vec<SocketAddr> = match lookup {
                Ok(it) => it.collect(),
                Err(_) => return Err(Box::new(DnsFailed(host)) as _),
            };
            if addrs.is_empty() {
                return Err(Box::new(DnsFailed(host)) as _);
            }
            if let Some(bad) = addrs.iter().find(|a| !is_allowed(a.ip(), &allow)) {
                tracing::warn!(host = %host, addr = %bad.ip(), "ssrf guard refused resolved address");
                return Err(Box::new(Blocked {
                    host,
                    addr: bad.ip(),
                }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Map a reqwest error, digging out the guard's own errors from the source chain.
fn map_reqwest(e: reqwest::Error) -> FeedError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = src {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return FeedError::Forbidden {
                host: b.host.clone(),
                addr: b.addr,
            };
        }
        if let Some(d) = s.downcast_ref::<DnsFailed>() {
            return FeedError::Dns(d.0.clone());
        }
        src = s.source();
    }
    if e.is_timeout() {
        return FeedError::Timeout;
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    FeedError::Unreachable(msg)
}

/// Validate scheme and, for IP literals, the address itself.
pub fn check_url(url: &Url, allow: &[IpNet]) -> Result<()> {
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(FeedError::InvalidUrl(format!("scheme {other} not allowed"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FeedError::InvalidUrl(
            "credentials in url not allowed".into(),
        ));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(FeedError::InvalidUrl("missing host".into())),
    };
    if is_allowed(ip, allow) {
        Ok(())
    } else {
        tracing::warn!(%url, addr = %ip, "ssrf guard refused ip literal");
        Err(FeedError::Forbidden {
            host: ip.to_string(),
            addr: ip,
        })
    }
}

/// Parse and validate a user-supplied URL.
pub fn parse_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| FeedError::InvalidUrl(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(FeedError::InvalidUrl(format!("scheme {other} not allowed"))),
    }
}

/// The SSRF-guarded HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: Arc<FetchConfig>,
}

/// An upstream response whose body has not been read yet.
pub struct Upstream {
    /// Final status (after redirects).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// URL after redirects.
    pub final_url: Url,
    response: reqwest::Response,
}

/// A fully read response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Final status (after redirects).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// URL after redirects.
    pub final_url: Url,
    /// Decoded body.
    pub body: Bytes,
}

/// A reqwest client builder with TLS ready: reqwest is built without a crypto provider of its
/// own (`rustls-no-provider`), so this installs rustls' ring provider for the process first
/// (once; a provider installed earlier is kept). Every HTTP client in the workspace starts here.
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

impl Fetcher {
    /// Build a fetcher.
    pub fn new(config: FetchConfig) -> Result<Self> {
        let resolver = GuardedResolver {
            allow: Arc::new(config.allow.clone()),
        };
        let client = http_client()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.total_timeout)
            .user_agent(config.user_agent.clone())
            .gzip(true)
            .brotli(true)
            .build()
            .map_err(|e| FeedError::Storage(format!("http client: {e}")))?;
        Ok(Self {
            client,
            config: Arc::new(config),
        })
    }

    /// Settings in use.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Send a GET, following redirects by hand with the guard on every hop.
    pub async fn send(&self, url: &Url, headers: &HeaderMap) -> Result<Upstream> {
        self.send_with_timeout(url, headers, None).await
    }

    /// [`Fetcher::send`] with a total timeout (each hop, body included) other
    /// than the configured one, e.g. longer for large audio files.
    pub async fn send_with_timeout(
        &self,
        url: &Url,
        headers: &HeaderMap,
        total_timeout: Option<Duration>,
    ) -> Result<Upstream> {
        let mut current = url.clone();
        let mut hops = 0usize;
        loop {
            check_url(&current, &self.config.allow)?;
            tracing::debug!(url = %current, hop = hops, "fetch");
            let mut req = self.client.get(current.clone()).headers(headers.clone());
            if let Some(t) = total_timeout {
                req = req.timeout(t);
            }
            let response = req.send().await.map_err(map_reqwest)?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if let Some(loc) = location {
                    hops += 1;
                    if hops > self.config.max_redirects {
                        return Err(FeedError::TooManyRedirects(self.config.max_redirects));
                    }
                    current = current
                        .join(&loc)
                        .map_err(|e| FeedError::InvalidUrl(format!("bad redirect: {e}")))?;
                    continue;
                }
            }
            return Ok(Upstream {
                status,
                headers: response.headers().clone(),
                final_url: current,
                response,
            });
        }
    }

    /// GET a URL and read the whole body (capped at `max_body`, or the config default).
    pub async fn fetch(&self, url: &Url, max_body: Option<u64>) -> Result<Fetched> {
        let up = self.send(url, &HeaderMap::new()).await?;
        let status = up.status;
        let headers = up.headers.clone();
        let final_url = up.final_url.clone();
        let body = up
            .read_to_bytes(max_body.unwrap_or(self.config.max_body))
            .await?;
        Ok(Fetched {
            status,
            headers,
            final_url,
            body,
        })
    }
}

impl Upstream {
    fn precheck(&self, cap: u64) -> Result<()> {
        // Only trust Content-Length when the body is not content-encoded; the
        // decoded size is enforced while streaming anyway.
        if let Some(len) = self.response.content_length()
            && len > cap
        {
            return Err(FeedError::TooLarge(cap));
        }
        Ok(())
    }

    /// The body as a stream of chunks, pulled only as fast as the consumer reads
    /// (nothing is buffered beyond the transport's own windows), ending with an
    /// error once more than `cap` bytes have come.
    pub fn into_stream(
        self,
        cap: u64,
    ) -> Result<impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
        self.precheck(cap)?;
        let mut seen = 0u64;
        Ok(self.response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(|e| std::io::Error::other(map_reqwest(e)))?;
            seen += chunk.len() as u64;
            if seen > cap {
                return Err(std::io::Error::other(FeedError::TooLarge(cap)));
            }
            Ok(chunk)
        }))
    }

    /// Read the (decoded) body into memory, failing once it exceeds `cap`.
    pub async fn read_to_bytes(self, cap: u64) -> Result<Bytes> {
        self.precheck(cap)?;
        let mut stream = self.response.bytes_stream();
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(map_reqwest)?;
            if buf.len() as u64 + chunk.len() as u64 > cap {
                return Err(FeedError::TooLarge(cap));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Stream the body into `file`, hashing it; returns (sha256 hex, length).
    pub async fn stream_to_file(
        self,
        cap: u64,
        file: &mut tokio::fs::File,
    ) -> Result<(String, u64)> {
        self.precheck(cap)?;
        let mut stream = self.response.bytes_stream();
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(map_reqwest)?;
            len += chunk.len() as u64;
            if len > cap {
                return Err(FeedError::TooLarge(cap));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok((hex::encode(hasher.finalize()), len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    #[test]
    fn refuses_internal_ranges() {
        for bad in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
        ] {
            assert!(refused_reason(ip(bad)).is_some(), "{bad} should be refused");
        }
    }

    #[test]
    fn accepts_public_addresses() {
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(
                refused_reason(ip(good)).is_none(),
                "{good} should be allowed"
            );
        }
    }

    #[test]
    fn allow_list_overrides() {
        let allow: Vec<IpNet> = vec!["127.0.0.1/32".parse().expect("net")];
        assert!(is_allowed(ip("127.0.0.1"), &allow));
        assert!(!is_allowed(ip("127.0.0.2"), &allow));
        assert!(!is_allowed(ip("10.0.0.1"), &allow));
    }

    #[test]
    fn url_checks() {
        let allow = Vec::new();
        let u = |s: &str| Url::parse(s).expect("url");
        assert!(check_url(&u("http://127.0.0.1/"), &allow).is_err());
        assert!(check_url(&u("http://2130706433/"), &allow).is_err()); // decimal 127.0.0.1
        assert!(check_url(&u("http://0x7f.1/"), &allow).is_err());
        assert!(check_url(&u("http://[::ffff:7f00:1]/"), &allow).is_err());
        assert!(check_url(&u("ftp://example.com/"), &allow).is_err());
        assert!(check_url(&u("http://user:pw@example.com/"), &allow).is_err());
        assert!(check_url(&u("https://example.com/feed"), &allow).is_ok());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("not a url").is_err());
    }
}
