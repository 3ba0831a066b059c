//! The web app (`web/dist`), served at `/`.
//!
//! Release builds embed the files in the binary; debug builds read them from disk at request
//! time, so `npm run build` shows up without recompiling. Paths that are not files fall back to
//! `index.html` (the app routes on the client).
//!
//! Every response carries a strict Content-Security-Policy ([`CSP`]): the app renders
//! third-party show notes and keeps the device's key in IndexedDB, so scripts (and WASM) run
//! only from our origin, never inline, the app talks only to its own origin, and no other site
//! may frame it. Referrers are never sent (episode and artwork hosts would learn the app's URL).

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

/// The web app's Content-Security-Policy. Images and audio only from our origin (the feed
/// proxy: artwork as blobs, episodes streamed through `/proxy/media`) or blobs (downloads), so
/// no podcast or artwork host ever learns a listener's address; scripts, WASM
/// (`wasm-unsafe-eval` allows compiling our own modules, not `eval`), workers and connections
/// only from our origin; inline styles are allowed (the app sets element styles), inline
/// scripts and event-handler attributes are not.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    script-src-attr 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
    media-src 'self' blob:; connect-src 'self'; worker-src 'self'; \
    manifest-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Security headers of every web-app response.
fn secure(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
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
    let mut r = (StatusCode::NOT_FOUND, msg).into_response();
    secure(r.headers_mut());
    r
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
    secure(h);
    Some(r)
}
