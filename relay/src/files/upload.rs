//! `POST /files?name=NAME`: an upload, streamed to a temporary file while
//! it is hashed and counted, refused as soon as it passes the size cap,
//! then typed from its bytes, stripped of metadata and thumbnailed if it
//! is an image, and published under its hash.
//!
//! Answers `201` with the file's record as JSON, or an error as JSON
//! `{"error": CODE, "message": TEXT}` with the status that fits (the codes
//! are listed in docs/PROTOCOL.md, "Files").

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures_util::StreamExt;
use serde_json::json;
use shared::{limits::MAX_FILE_NAME_BYTES, FileId, UserId};

use super::{
    blobs::{self, TempFile},
    index::FileRecord,
    metrics::Refused,
    sniff::{self, ImageKind, SNIFF_BYTES},
    strip, thumbnail, Files,
};
use crate::{random::random_hex, state::AppState};

/// An upload refused: status, code, text.
pub struct UploadError {
    status: StatusCode,
    reason: Option<Refused>,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl UploadError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        UploadError {
            status,
            reason: None,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn refused(reason: Refused, status: StatusCode, message: impl Into<String>) -> Self {
        UploadError {
            reason: Some(reason),
            ..UploadError::new(status, reason.as_str(), message)
        }
    }

    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::warn!("upload failed: {err}");
        UploadError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the relay could not store the file; try again",
        )
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// The user an HTTP request's `Authorization: Bearer` names: a resume
/// token, or in token mode a signed connection token.
pub async fn bearer_user(state: &AppState, headers: &HeaderMap) -> Option<UserId> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    match &state.verifier {
        Some(verifier) => verifier.verify(token).ok().map(|identity| identity.id),
        None => state.accounts.user_of(token).await,
    }
}

pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let files = state.files.clone();
    match receive(&state, &files, &headers, query.as_deref(), body).await {
        Ok(record) => {
            files.metrics.uploads.inc();
            files.metrics.upload_bytes.inc_by(record.size);
            let mut answer = json!({
                "id": record.id,
                "name": record.name,
                "size": record.size,
                "type": record.mime,
                "sha256": record.sha256,
            });
            if let (Some(width), Some(height)) = (record.width, record.height) {
                answer["width"] = width.into();
                answer["height"] = height.into();
            }
            if record.thumb.is_some() {
                answer["thumb"] = format!("/thumbs/{}", record.id).into();
            }
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(err) => {
            if let Some(reason) = err.reason {
                files.metrics.refused(reason);
            }
            err.into_response()
        }
    }
}

async fn receive(
    state: &AppState,
    files: &Arc<Files>,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<FileRecord, UploadError> {
    let Some(user) = bearer_user(state, headers).await else {
        return Err(UploadError::refused(
            Refused::Unauthorized,
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer <resume token>` (or, in token mode, a signed token)",
        ));
    };
    if let Err(wait) = files.uploads.check(&user) {
        let secs = wait.as_secs().max(1);
        return Err(UploadError {
            retry_after: Some(secs),
            ..UploadError::refused(
                Refused::RateLimited,
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many uploads; wait {secs} s"),
            )
        });
    }
    let limits = &files.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        UploadError::refused(
            Refused::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("files are limited to {} bytes", limits.max_file),
        )
    };
    if declared.is_some_and(|len| len > limits.max_file) {
        return Err(too_large());
    }
    check_room(files, &user, declared.unwrap_or(0))?;

    let mut incoming = files
        .blobs
        .incoming()
        .await
        .map_err(UploadError::internal)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            UploadError::new(
                StatusCode::BAD_REQUEST,
                "aborted",
                format!("the upload broke off: {err}"),
            )
        })?;
        if incoming.size + chunk.len() as u64 > limits.max_file {
            return Err(too_large());
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        incoming
            .write(&chunk)
            .await
            .map_err(UploadError::internal)?;
    }
    let (temp, sha) = incoming.finish().await.map_err(UploadError::internal)?;
    let mime = sniff::sniff(&head);
    let mut record = FileRecord {
        id: FileId::new(&format!("f{}", random_hex(12))).expect("hex is a valid file id"),
        sha256: sha,
        name: clean_name(query),
        size: 0,
        mime: mime.to_owned(),
        width: None,
        height: None,
        thumb: None,
        owner: user.clone(),
        created_ms: crate::clock::now_ms(),
    };
    let temp = match sniff::image_kind(&head) {
        Some(kind) => image(files, kind, temp, &mut record).await?,
        None => temp,
    };
    record.size = std::fs::metadata(temp.path())
        .map_err(UploadError::internal)?
        .len();
    check_room(files, &user, record.size)?;
    files
        .blobs
        .publish(temp.path(), &record.sha256, record.size)
        .await
        .map_err(UploadError::internal)?;
    temp.keep();
    files.metrics.stored_bytes.set(files.blobs.bytes() as i64);
    if let Some(db) = files.index.durable() {
        db.insert_file(record.clone())
            .await
            .map_err(UploadError::internal)?;
    }
    files
        .share_upload(&record)
        .await
        .map_err(|err| UploadError::internal(format!("{err:#}")))?;
    files.index.add(record.clone());
    Ok(record)
}

/// The quota and the store's cap, for `more` bytes.
fn check_room(files: &Files, user: &UserId, more: u64) -> Result<(), UploadError> {
    let limits = &files.limits;
    if limits.quota > 0 && files.index.owned_bytes(user) + more > limits.quota {
        return Err(UploadError::refused(
            Refused::Quota,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "your files would pass your quota of {} bytes; files no message posts are deleted after a while",
                limits.quota
            ),
        ));
    }
    if limits.max_total > 0 && files.blobs.bytes() + more > limits.max_total {
        return Err(UploadError::refused(
            Refused::StoreFull,
            StatusCode::INSUFFICIENT_STORAGE,
            "the relay's file store is full",
        ));
    }
    Ok(())
}

/// An image: stripped of its metadata (what is stored and served), then
/// decoded under limits for its size and thumbnail, which is published
/// as a blob of its own. Returns the stripped file, its hash in `record`.
async fn image(
    files: &Arc<Files>,
    kind: ImageKind,
    original: TempFile,
    record: &mut FileRecord,
) -> Result<TempFile, UploadError> {
    let _permit = files
        .decodes
        .acquire()
        .await
        .map_err(UploadError::internal)?;
    let stripped = TempFile::new(files.blobs.temp_path());
    let thumb_path = TempFile::new(files.blobs.temp_path());
    let (from, to, thumb_to) = (
        original.path().to_path_buf(),
        stripped.path().to_path_buf(),
        thumb_path.path().to_path_buf(),
    );
    let work = tokio::task::spawn_blocking(move || {
        strip::strip(kind, &from, &to).map_err(|err| match err {
            strip::StripError::Malformed => thumbnail::ThumbError::Malformed(err.to_string()),
            strip::StripError::Io(err) => thumbnail::ThumbError::Io(err),
        })?;
        let thumb = thumbnail::make(kind, &to)?;
        std::fs::write(&thumb_to, &thumb.jpeg)?;
        let (stripped_sha, _) = blobs::sha_of_file(&to)?;
        let (thumb_sha, thumb_size) = blobs::sha_of_file(&thumb_to)?;
        Ok::<_, thumbnail::ThumbError>((thumb, stripped_sha, thumb_sha, thumb_size))
    })
    .await
    .map_err(UploadError::internal)?;
    drop(original);
    let (thumb, stripped_sha, thumb_sha, thumb_size) = work.map_err(|err| match err {
        thumbnail::ThumbError::TooLarge => UploadError::refused(
            Refused::ImageTooLarge,
            StatusCode::UNPROCESSABLE_ENTITY,
            err.to_string(),
        ),
        thumbnail::ThumbError::Malformed(_) => UploadError::refused(
            Refused::BadImage,
            StatusCode::UNPROCESSABLE_ENTITY,
            err.to_string(),
        ),
        thumbnail::ThumbError::Io(err) => UploadError::internal(err),
    })?;
    files
        .blobs
        .publish(thumb_path.path(), &thumb_sha, thumb_size)
        .await
        .map_err(UploadError::internal)?;
    thumb_path.keep();
    record.sha256 = stripped_sha;
    record.width = Some(thumb.width);
    record.height = Some(thumb.height);
    record.thumb = Some(thumb_sha);
    Ok(stripped)
}

/// The `name` parameter as a plain file name: no directories, no control
/// or invisible characters, at most [`MAX_FILE_NAME_BYTES`]; `file` when
/// nothing is left.
fn clean_name(query: Option<&str>) -> String {
    let raw = query
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(key, _)| key == "name")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = base
        .chars()
        .filter(|c| !c.is_control() && !shared::names::is_invisible_format(*c))
        .collect();
    let trimmed = name.trim().trim_start_matches('.').to_owned();
    name = trimmed;
    while name.len() > MAX_FILE_NAME_BYTES {
        name.pop();
    }
    if name.is_empty() {
        "file".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_are_plain_file_names() {
        assert_eq!(clean_name(Some("name=photo.png")), "photo.png");
        assert_eq!(clean_name(Some("name=..%2F..%2Fetc%2Fpasswd")), "passwd");
        assert_eq!(clean_name(Some("name=C%3A%5Cx%5Cevil.exe")), "evil.exe");
        assert_eq!(clean_name(Some("name=a%E2%80%AEgnp.exe")), "agnp.exe");
        assert_eq!(clean_name(Some("name=.hidden")), "hidden");
        assert_eq!(clean_name(None), "file");
        assert_eq!(
            clean_name(Some(&format!("name={}", "é".repeat(200)))).len(),
            254
        );
    }
}
