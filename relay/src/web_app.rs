//! The built web app (trunk's dist/) as static files: precompressed
//! variants, and a warning when the build is not the one to ship.
//!
//! The build writes `name.br` and `name.gz` next to every compressible file
//! (frontend/build/compress.mjs, run by trunk's post_build hook), so the
//! relay compresses nothing at run time: it picks the variant the browser
//! accepts and falls back to the plain file.

use std::path::Path;

use axum::{
    http::{header, HeaderValue, Response},
    Router,
};
use tower_http::services::{ServeDir, ServeFile};

/// What `trunk serve` injects into index.html: its auto-reload client.
const AUTORELOAD_MARKER: &str = ".well-known/trunk/ws";
/// What the post_build hook writes into index.html of a debug build
/// (frontend/build/post_build.sh, from trunk's `TRUNK_PROFILE`).
const DEBUG_MARKER: &str = r#"<meta name="palaver-build" content="debug""#;

/// `router` with the app in `dir` as its fallback: known files, with their
/// precompressed variants, and index.html for anything else (status 404:
/// the app's own routes are `#/` fragments and never reach the server).
pub fn serve<S: Clone + Send + Sync + 'static>(router: Router<S>, dir: &Path) -> Router<S> {
    let index = ServeFile::new(dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .not_found_service(index);
    router.fallback_service(tower::util::MapResponse::new(files, vary_on_encoding))
}

/// The same URL answers differently per `Accept-Encoding`; caches in front
/// of the relay must keep the variants apart.
fn vary_on_encoding<B>(mut response: Response<B>) -> Response<B> {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Why the app in `dir` is a development build, if it is one: built by
/// `trunk serve` (its auto-reload script, which also tries to reach a
/// trunk server that is not there) or without `--release` (a wasm about
/// eight times larger and much slower). Marker strings rather than sizes,
/// so a grown release build is never mistaken for a debug one.
pub fn debug_build(dir: &Path) -> Option<&'static str> {
    let index = std::fs::read_to_string(dir.join("index.html")).ok()?;
    if index.contains(AUTORELOAD_MARKER) {
        Some("it was built by `trunk serve` (it carries trunk's auto-reload script)")
    } else if index.contains(DEBUG_MARKER) {
        Some("it was built without --release")
    } else {
        None
    }
}

/// Logs a warning at start when the app served is a development build.
pub fn warn_if_debug(dir: &Path) {
    if let Some(why) = debug_build(dir) {
        tracing::warn!(
            "the web app in {} is a development build: {why}. Ship a release build: \
             `./x web` (trunk build --release) writes one to dist/",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_index(html: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), html).unwrap();
        dir
    }

    #[test]
    fn a_release_build_is_not_flagged() {
        let dir = dir_with_index(r#"<head><meta name="palaver-build" content="release"></head>"#);
        assert_eq!(debug_build(dir.path()), None);
    }

    #[test]
    fn a_debug_build_and_a_trunk_serve_build_are_flagged() {
        let debug = dir_with_index(r#"<head><meta name="palaver-build" content="debug"></head>"#);
        assert!(debug_build(debug.path()).unwrap().contains("--release"));
        let served = dir_with_index(
            r#"<meta name="palaver-build" content="release"><script>const url = protocol + '://' + address + base + '.well-known/trunk/ws';</script>"#,
        );
        assert!(debug_build(served.path()).unwrap().contains("trunk serve"));
    }

    #[test]
    fn no_app_is_not_a_debug_build() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(debug_build(dir.path()), None);
    }
}
