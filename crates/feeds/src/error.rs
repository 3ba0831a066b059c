//! One error type for the whole crate; the HTTP layer maps it to a status code.

use std::net::IpAddr;

/// Everything that can go wrong while proxying, caching or transforming.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeedError {
    /// The URL is not an absolute `http`/`https` URL.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    /// The target resolves to (or is) an address the SSRF guard refuses.
    #[error("forbidden address {addr} for host {host}")]
    Forbidden {
        /// Host name as written in the URL.
        host: String,
        /// First refused address.
        addr: IpAddr,
    },
    /// DNS resolution failed.
    #[error("cannot resolve host {0}")]
    Dns(String),
    /// Connection or protocol failure talking to the upstream.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// Upstream took too long (connect, idle read or total).
    #[error("upstream timed out")]
    Timeout,
    /// Too many redirects (or a loop).
    #[error("too many redirects (limit {0})")]
    TooManyRedirects(usize),
    /// Upstream answered with a non-success status.
    #[error("upstream returned status {0}")]
    UpstreamStatus(u16),
    /// Body exceeded the configured cap.
    #[error("body larger than the {0} byte cap")]
    TooLarge(u64),
    /// The content could not be parsed as what was asked for.
    #[error("cannot parse: {0}")]
    Parse(String),
    /// Audio could not be decoded.
    #[error("cannot decode audio: {0}")]
    Audio(String),
    /// Missing or rejected credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Per-identity rate limit hit.
    #[error("rate limited, retry in {0} s")]
    RateLimited(u64),
    /// Bad query parameters.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The content is over a limit other than the body size (pixels of an image, …).
    #[error("over the limit: {0}")]
    OverLimit(String),
    /// The upstream body is not of a media type the endpoint serves.
    #[error("unsupported media type: {0}")]
    UnsupportedMedia(String),
    /// A `Range` request header the media proxy does not serve (several ranges,
    /// reversed, or past the end at the origin).
    #[error("range not satisfiable: {0}")]
    RangeNotSatisfiable(String),
    /// Local storage failure (cache directory or index).
    #[error("storage error: {0}")]
    Storage(String),
    /// A service the operator has not configured (e.g. directory search switched off).
    #[error("not available: {0}")]
    Unavailable(String),
}

impl FeedError {
    /// HTTP status the proxy answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            FeedError::InvalidUrl(_) | FeedError::BadRequest(_) => 400,
            FeedError::Unauthorized(_) => 401,
            FeedError::Forbidden { .. } => 403,
            FeedError::TooLarge(_) | FeedError::OverLimit(_) => 413,
            FeedError::UnsupportedMedia(_) => 415,
            FeedError::RangeNotSatisfiable(_) => 416,
            FeedError::Parse(_) | FeedError::Audio(_) => 422,
            FeedError::RateLimited(_) => 429,
            FeedError::Storage(_) => 500,
            FeedError::Dns(_)
            | FeedError::Unreachable(_)
            | FeedError::TooManyRedirects(_)
            | FeedError::UpstreamStatus(_) => 502,
            FeedError::Unavailable(_) => 503,
            FeedError::Timeout => 504,
        }
    }

    /// Whether a stale cached copy may be served instead of this error
    /// (stale-if-error applies to upstream failures, not to refusals).
    pub fn allows_stale(&self) -> bool {
        matches!(
            self,
            FeedError::Dns(_)
                | FeedError::Unreachable(_)
                | FeedError::Timeout
                | FeedError::UpstreamStatus(_)
                | FeedError::TooManyRedirects(_)
        )
    }
}

impl From<sqlx::Error> for FeedError {
    fn from(e: sqlx::Error) -> Self {
        FeedError::Storage(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for FeedError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        FeedError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for FeedError {
    fn from(e: std::io::Error) -> Self {
        FeedError::Storage(e.to_string())
    }
}

/// Crate result alias.
pub type Result<T, E = FeedError> = std::result::Result<T, E>;
