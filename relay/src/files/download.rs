//! `GET /files/ID[/NAME]` and `GET /thumbs/ID`: a file's bytes for whoever
//! holds a valid capability (the signed query of an attachment's `url`),
//! or its uploader (`Authorization: Bearer`).
//!
//! Served so that nothing a user uploaded can run as the relay's origin:
//! the sniffed type with `X-Content-Type-Options: nosniff`, a
//! `Content-Security-Policy: sandbox` (no script, no same-origin, even if
//! opened directly), and `Content-Disposition: attachment` for every type
//! but raster images. The bytes never change (content-addressed), so
//! `Cache-Control` is `immutable`; Range requests work (tower-http's
//! `ServeFile`), for large files and video seeking. In cluster mode a blob
//! this relay lacks is first copied from the shared bucket to its local
//! blob directory (`cluster`), so the same `ServeFile` serves it.

use axum::{
    body::Body,
    extract::{Path, RawQuery, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use shared::FileId;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::{
    capability::{encode, Grant},
    index::FileRecord,
    now_secs, sniff, upload, Files,
};
use crate::state::AppState;

pub async fn file(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    serve(state, &id, query, request, Part::File).await
}

pub async fn named(
    State(state): State<AppState>,
    Path((id, _name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    serve(state, &id, query, request, Part::File).await
}

pub async fn thumb(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    serve(state, &id, query, request, Part::Thumb).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    File,
    Thumb,
}

async fn serve(
    state: AppState,
    id: &str,
    query: Option<String>,
    request: Request,
    part: Part,
) -> Response {
    let files = state.files.clone();
    let record = FileId::new(id).ok().and_then(|id| files.index.file(&id));
    let Some(record) = record else {
        files.metrics.downloads_refused.inc();
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    // Cloned: a `Request` is not `Sync`, so no reference to it may be
    // held across an await.
    let headers = request.headers().clone();
    if !allowed(&state, &files, &record, query.as_deref(), &headers).await {
        files.metrics.downloads_refused.inc();
        return (
            StatusCode::FORBIDDEN,
            "this link is not valid (forged, for another file, or expired): reload the conversation for a fresh one\n",
        )
            .into_response();
    }
    let (sha, mime) = match part {
        Part::File => (record.sha256.clone(), record.mime.clone()),
        Part::Thumb => match &record.thumb {
            Some(thumb) => (thumb.clone(), "image/jpeg".to_owned()),
            None => return (StatusCode::NOT_FOUND, "no thumbnail\n").into_response(),
        },
    };
    let Ok(mime_type) = mime.parse::<mime::Mime>() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let path = match files.local_blob(&sha).await {
        Ok(path) => path,
        Err(err) => {
            tracing::warn!(file = %record.id, "cannot fetch a file's blob from the cluster: {err:#}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the file cannot be read right now; try again\n",
            )
                .into_response();
        }
    };
    let served = match ServeFile::new_with_mime(&path, &mime_type)
        .oneshot(request)
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if served.status() == StatusCode::NOT_FOUND {
        tracing::warn!(file = %record.id, "a file's blob is missing");
    }
    files.metrics.downloads.inc();
    let mut response = served.map(Body::new);
    let headers = response.headers_mut();
    let inline = part == Part::Thumb || sniff::inline_safe(&mime);
    headers.insert(header::CONTENT_DISPOSITION, disposition(&record, inline));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'; media-src 'self'"),
    );
    if response.status().is_success() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
    }
    response
}

/// A valid capability for this file, or its uploader's credentials.
async fn allowed(
    state: &AppState,
    files: &Files,
    record: &FileRecord,
    query: Option<&str>,
    headers: &HeaderMap,
) -> bool {
    if let Some(grant) = query.and_then(Grant::parse) {
        return files.signer.check(&record.id, &grant, now_secs());
    }
    upload::bearer_user(state, headers)
        .await
        .is_some_and(|user| user == record.owner)
}

/// `inline` or `attachment`, with the name in both forms browsers read.
fn disposition(record: &FileRecord, inline: bool) -> HeaderValue {
    let ascii: String = record
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    let value = format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encode(&record.name)
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}
