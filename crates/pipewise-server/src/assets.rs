//! The browser pages: `web/assets/` compiled into the binary (no CDN, no
//! Node at run time; works offline). `/` is the app; `/assets/…` its files.
//! Every page answer carries a strict Content-Security-Policy: scripts and
//! everything else from this server only.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "web/assets/"]
struct Assets;

/// What every page and asset may load: only this server's own.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn file(path: &str) -> Response {
    let Some(f) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mime = f.metadata.mimetype().to_string();
    let mut r = (StatusCode::OK, f.data.into_owned()).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // (the hash of the bytes changes with every build that changes them)
    let etag = format!("\"{}\"", hex(&f.metadata.sha256_hash()[..8]));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The app's page.
pub async fn index() -> Response {
    file("index.html")
}

/// A file of the app.
pub async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

/// Every embedded file's path (for tests).
pub fn paths() -> Vec<String> {
    Assets::iter().map(|p| p.to_string()).collect()
}
