//! Errors: bridge-level ones, and the HTTP refusals the API answers with.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Errors outside a request (opening the store, the CLI).
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The bridge database.
    #[error("gpodder bridge store: {0}")]
    Store(String),
    /// Input refused.
    #[error("{0}")]
    Invalid(String),
    /// The library owner (the node's loop) is gone.
    #[error("the library is not available (the node is stopping)")]
    LibraryGone,
    /// The library refused an edit.
    #[error(transparent)]
    Library(#[from] skypod_library::LibraryError),
}

/// An HTTP refusal: a status and a sentence saying what was wrong (text/plain).
#[derive(Debug)]
pub struct ApiError {
    /// Status.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 413: the body is over the bridge's limit.
    pub fn too_large(declared: u64, limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("request body of {declared} bytes is over the limit of {limit} bytes"),
            retry_after: None,
        }
    }

    /// 401: the same answer for an unknown user, a wrong password and a missing one.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "authentication required".into(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`.
    pub fn too_many(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: message.into(),
            retry_after: Some(wait.as_secs_f64().ceil() as u64),
        }
    }
}

impl From<BridgeError> for ApiError {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::Invalid(m) => Self::bad(m),
            BridgeError::Library(skypod_library::LibraryError::Invalid { what, why }) => {
                Self::bad(format!("invalid {what}: {why}"))
            }
            other => {
                tracing::error!(error = %other, "gpodder bridge: internal error");
                Self {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: other.to_string(),
                    retry_after: None,
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, format!("{}\n", self.message)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // urllib (mygpoclient) only sends credentials after a Basic challenge.
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"skypod gpodder bridge\""),
            );
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}
