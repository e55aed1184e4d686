//! The pages: `dashboard/dist`, built by Vite from `dashboard/` and embedded
//! into the binary at compile time, so the server needs no Node and no files
//! beside it.
//!
//! `GET /` is the video wall (`index.html`), `GET /console` the regulation
//! console (`console.html`); `GET /assets/…` and the other files of `dist/`
//! are served under their own paths with their content type. Files under
//! `assets/` carry a content hash in their names, so they are cached for a
//! year; the pages and `config.json` are revalidated every time (ETag). An
//! unknown path gets the router's JSON 404.
//!
//! Rebuild the pages with `cd dashboard && npm install && npm run build`
//! (docs/wall.md, docs/console.md). A checkout without `dashboard/dist` does
//! not compile: the error points at the `#[derive(Embed)]` below.

use axum::{
    extract::Path,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use rust_embed::Embed;

use crate::error::ApiError;

/// `dashboard/dist`, embedded in every build profile (feature `debug-embed`).
#[derive(Embed)] // Fails to compile? dashboard/dist is missing: cd dashboard && npm ci && npm run build
#[folder = "../../dashboard/dist/"]
struct Dist;

/// A `dist/` without the pages does not compile either.
const _PAGE: &[u8] = include_bytes!("../../../dashboard/dist/index.html"); // Missing? cd dashboard && npm install && npm run build
const _CONSOLE: &[u8] = include_bytes!("../../../dashboard/dist/console.html"); // Missing? cd dashboard && npm install && npm run build

/// Cache policy of hashed, never-changing files.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of the page itself: always revalidate (cheap with the ETag).
const REVALIDATE: &str = "no-cache";
/// The page talks only to its own server (the feed, `config.json`); map
/// tiles may come from any configured server.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob: http: https:; connect-src 'self' ws: wss:; base-uri 'none'; \
     form-action 'none'";
/// The console: the wall's policy (its forms post through `fetch`, under
/// `connect-src`, never as native submissions), and never inside a frame.
const CONSOLE_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob: http: https:; connect-src 'self' ws: wss:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The routes of the pages: `/`, `/console`, `/assets/{*path}` and each
/// other top-level file of `dist/` (e.g. `/config.json`).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/console",
            get(|headers: HeaderMap| async move { serve("console.html", &headers) }),
        )
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve(&format!("assets/{path}"), &headers)
            }),
        );
    for file in Dist::iter() {
        let file = file.into_owned();
        if file == "index.html" || file == "console.html" || file.starts_with("assets/") {
            continue;
        }
        let route = format!("/{file}");
        router = router.route(
            &route,
            get(move |headers: HeaderMap| {
                let file = file.clone();
                async move { serve(&file, &headers) }
            }),
        );
    }
    router
}

/// Whether the page was embedded (always true in a binary that compiled,
/// unless `dist/` lacked `index.html`).
pub fn has_page() -> bool {
    Dist::get("index.html").is_some()
}

/// The content type of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "geojson" => "application/geo+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Dist::get(path) else {
        return ApiError::new(StatusCode::NOT_FOUND, "no such path").into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The wall's URL carries its token: never send it to a tile server.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let csp = match path {
        "index.html" => Some(PAGE_CSP),
        "console.html" => Some(CONSOLE_CSP),
        _ => None,
    };
    if let Some(csp) = csp {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_page_is_embedded() {
        assert!(has_page(), "dashboard/dist/index.html was not embedded");
        let index = Dist::get("index.html").unwrap();
        let html = std::str::from_utf8(&index.data).unwrap();
        assert!(html.contains("SAMU 192"));
        // Every asset the page links to is embedded.
        for part in html.split("\"/assets/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                Dist::get(&format!("assets/{name}")).is_some(),
                "index.html links to assets/{name}, which is not in dist/"
            );
        }
        assert!(Dist::iter().any(|f| f.ends_with(".js")));
    }

    #[test]
    fn the_built_console_is_embedded() {
        let page = Dist::get("console.html").expect("dashboard/dist/console.html");
        let html = std::str::from_utf8(&page.data).unwrap();
        assert!(html.contains("Console de Regulação"));
        // No inline script: the CSP allows only the page's own files.
        assert!(!html.contains("<script>"));
        for part in html.split("\"/assets/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                Dist::get(&format!("assets/{name}")).is_some(),
                "console.html links to assets/{name}, which is not in dist/"
            );
        }
    }

    #[test]
    fn both_pages_talk_only_to_their_own_server() {
        for csp in [PAGE_CSP, CONSOLE_CSP] {
            assert!(csp.contains("script-src 'self';"));
            assert!(csp.contains("connect-src 'self' ws: wss:;"));
        }
        assert!(CONSOLE_CSP.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-1a2b.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/x.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("config.json"), "application/json");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
