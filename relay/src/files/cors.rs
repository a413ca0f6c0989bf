//! CORS for the file routes: the web app is usually served from a CDN,
//! another origin than the relay's, and its `fetch` to `POST /files` sends
//! an `Authorization` header, so the browser asks first (`OPTIONS`). Only
//! the origins that may open a WebSocket (`origin::Origins`) are allowed;
//! a request from any other origin gets no CORS headers, so the browser
//! keeps its answer from the page.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::state::AppState;

/// The answer to a preflight: empty; [`headers`] adds the CORS headers.
pub async fn preflight() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Adds the CORS headers to every file route's answer for an allowed
/// origin.
pub async fn headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = origin.is_some() && state.origins.allows(request.headers());
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if let (true, Some(origin)) = (allowed, origin) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "Content-Length, Content-Range, Content-Disposition, Retry-After",
            ),
        );
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, range"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    response
}
