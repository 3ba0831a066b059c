//! The web app (`web/dist`), served at `/`.
//!
//! Release builds embed the files in the binary; debug builds read them from disk at request
//! time, so `npm run build` shows up without recompiling. Paths that are not files fall back to
//! `index.html` (the app routes on the client).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
// Relative to this crate's Cargo.toml.
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

pub fn router() -> Router {
    Router::new().fallback(serve)
}

/// Whether a built web app is available (embedded or on disk).
pub fn available() -> bool {
    Assets::get("index.html").is_some()
}

async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(r) = file(path) {
        return r;
    }
    // Client-side routes get the app; missing assets (with an extension) are a real 404.
    if !path.rsplit('/').next().unwrap_or("").contains('.')
        && let Some(r) = file("index.html")
    {
        return r;
    }
    let msg = if available() {
        "not found\n"
    } else {
        "the web app is not built: run `npm ci && npm run build` in web/ (scripts/run.sh does)\n"
    };
    (StatusCode::NOT_FOUND, msg).into_response()
}

fn file(path: &str) -> Option<Response> {
    let f = Assets::get(path)?;
    let mime = f.metadata.mimetype().to_owned();
    // Hashed build assets never change; the shell and the service worker must revalidate so an
    // update reaches users.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut r = Response::new(Body::from(f.data.into_owned()));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}
