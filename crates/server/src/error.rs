//! The one error type HTTP handlers return; it maps to a JSON `{status, code, message}` response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use skypod_protocol::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let code = match &self {
            AppError::Unavailable(_) => "unavailable",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Internal(_) => "internal",
        };
        let body = ErrorBody {
            status: status.as_u16(),
            code: code.into(),
            message: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}
