//! Uploads: files streamed into the artifact store under `uploads/ID/`, a
//! folder any pipeline can read (pass `uploads/ID` as `ingest`'s `path`).

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hangar_engine::clock::now_ms;
use hangar_engine::store::catalog::{UploadRecord, UploadedFile};
use hangar_sdk::{ArtifactKind, ArtifactWriter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CurrentUser, Permission};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// An upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    pub owner: String,
    /// The folder in the artifact store: pass it as a pipeline param (e.g. `ingest`'s `path`).
    pub key: String,
    pub uri: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub digest: String,
    #[schema(value_type = Vec<Object>)]
    pub files: Vec<UploadedFile>,
    pub created_at: i64,
}

impl UploadView {
    fn new(upload: &UploadRecord, state: &AppState) -> Self {
        Self {
            id: upload.id.clone(),
            owner: upload.owner.clone(),
            key: upload.artifact_key.clone(),
            uri: state.engine.artifacts().uri(&upload.artifact_key),
            file_name: upload.file_name.clone(),
            content_type: upload.content_type.clone(),
            size: upload.size,
            digest: upload.digest.clone(),
            files: upload.files.clone(),
            created_at: upload.created_at,
        }
    }
}

/// The caller's uploads.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadList {
    pub uploads: Vec<UploadView>,
}

/// Keeps a file name safe in keys, paths and headers: its last component,
/// without control characters, separators or leading dots.
pub fn sanitize_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') { c } else { '_' })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut name: String = trimmed.chars().take(200).collect();
    if name.is_empty() {
        name = "file".to_owned();
    }
    name
}

/// The content type from the bytes themselves, then from the name.
pub fn sniff_content_type(head: &[u8], name: &str) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sniffed bytes.
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 >= head.len(),
    };
    if !text {
        return "application/octet-stream".to_owned();
    }
    let extension = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    match extension.as_str() {
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "csv" => "text/csv",
        "yaml" | "yml" => "application/yaml",
        _ => "text/plain",
    }
    .to_owned()
}

struct Received {
    file: UploadedFile,
}

/// Uploads one or more files (multipart `file` fields), streamed to the
/// artifact store; the whole request may not exceed the upload limit.
#[utoipa::path(post, path = "/uploads", tag = "data", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "One or more `file` parts"),
    responses((status = 201, body = UploadView), (status = 400, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, ApiJson<UploadView>)> {
    user.require(Permission::DataUpload)?;
    let mut multipart = multipart
        .map_err(|e| ApiError::bad_request(format!("{}; send multipart/form-data with `file` parts", e.body_text())))?;
    let id = format!("upl_{}", uuid::Uuid::now_v7().simple());
    let prefix = format!("uploads/{id}");
    let mut received: Vec<Received> = Vec::new();
    let outcome = receive(&state, &mut multipart, &prefix, &mut received).await;
    if let Err(err) = outcome {
        // Nothing half-uploaded stays behind.
        let _ = state.engine.artifacts().delete_prefix(&prefix).await;
        return Err(err);
    }
    if received.is_empty() {
        return Err(ApiError::bad_request("no file in the request; send at least one multipart part named `file`"));
    }
    let mut digest = blake3::Hasher::new();
    for r in &received {
        digest.update(r.file.digest.as_bytes());
    }
    let upload = UploadRecord {
        id,
        owner: user.id.clone(),
        file_name: received[0].file.name.clone(),
        content_type: received[0].file.content_type.clone(),
        size: received.iter().map(|r| r.file.size).sum(),
        digest: format!("blake3:{}", digest.finalize().to_hex()),
        artifact_key: prefix,
        files: received.into_iter().map(|r| r.file).collect(),
        created_at: now_ms(),
    };
    state.store().add_upload(&upload).await?;
    tracing::info!(upload = %upload.id, user = %user.id, files = upload.files.len(), bytes = upload.size, "Upload stored.");
    state.audit_done(&user, "upload.create", &upload.id).await;
    Ok((StatusCode::CREATED, ApiJson(UploadView::new(&upload, &state))))
}

async fn receive(
    state: &AppState,
    multipart: &mut Multipart,
    prefix: &str,
    received: &mut Vec<Received>,
) -> ApiResult<()> {
    let limit = state.config.upload_limit;
    let mut total: u64 = 0;
    let too_large = || {
        ApiError::too_large(format!(
            "the upload exceeds {limit} bytes; split it or ask for a higher HANGAR_UPLOAD_LIMIT"
        ))
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(()),
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(err) => {
                return Err(ApiError::bad_request(format!("the multipart body is malformed: {}", err.body_text())));
            }
        };
        let Some(raw_name) = field.file_name().map(str::to_owned) else {
            continue; // a plain form field
        };
        let mut name = sanitize_file_name(&raw_name);
        let mut n = 2;
        while received.iter().any(|r| r.file.name == name) {
            name = format!("{n}-{}", sanitize_file_name(&raw_name));
            n += 1;
        }
        let key = format!("{prefix}/{name}");
        let mut writer = state
            .engine
            .artifacts()
            .writer(&key)
            .await
            .map_err(|e| ApiError::internal("could not store the upload", &e))?;
        let mut head: Vec<u8> = Vec::new();
        let mut field = field;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(err) => {
                    writer.abort().await;
                    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        return Err(too_large());
                    }
                    return Err(ApiError::bad_request(format!("the upload was cut off: {}", err.body_text())));
                }
            };
            total += chunk.len() as u64;
            if total > limit {
                writer.abort().await;
                return Err(too_large());
            }
            if head.len() < 8192 {
                head.extend_from_slice(&chunk[..chunk.len().min(8192 - head.len())]);
            }
            if let Err(e) = writer.write(&chunk).await {
                writer.abort().await;
                return Err(ApiError::internal("could not store the upload", &e));
            }
        }
        let content_type = sniff_content_type(&head, &name);
        let artifact = finish(writer).await?;
        received
            .push(Received { file: UploadedFile { name, size: artifact.size, content_type, digest: artifact.digest } });
    }
}

async fn finish(writer: ArtifactWriter) -> ApiResult<hangar_sdk::ArtifactRef> {
    writer.finish(ArtifactKind::File).await.map_err(|e| ApiError::internal("could not store the upload", &e))
}

/// The caller's uploads, newest first (everyone's for administrators).
#[utoipa::path(get, path = "/uploads", tag = "data", security(("bearer" = [])),
    responses((status = 200, body = UploadList)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<UploadList>> {
    let uploads = state.store().uploads(user.owner_filter().as_deref(), 200).await?;
    Ok(ApiJson(UploadList { uploads: uploads.iter().map(|u| UploadView::new(u, &state)).collect() }))
}

/// Which file of a multi-file upload.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ArtifactQuery {
    /// File name inside the upload (default: the first file).
    pub file: Option<String>,
}

/// Downloads an uploaded file; `Range: bytes=…` is honoured.
#[utoipa::path(get, path = "/artifacts/{id}", tag = "data", security(("bearer" = [])),
    params(("id" = String, Path, description = "Upload id"), ArtifactQuery),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
              (status = 404, body = crate::error::ErrorBody), (status = 416, body = crate::error::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ArtifactQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let upload = match state.store().upload(&id).await? {
        Some(upload) if user.can_see(Some(&upload.owner)) => upload,
        Some(_) => {
            state.audit_refused(&user, "upload.read", &id, "owned by another account").await;
            return Err(ApiError::not_found(format!("no artifact {id}; list yours with GET /api/v1/uploads")));
        }
        _ => {
            return Err(ApiError::not_found(format!("no artifact {id}; list yours with GET /api/v1/uploads"))
                .in_console(format!("There is no upload {id}."), "/data", "See your uploads"));
        }
    };
    let file = match &query.file {
        Some(name) => upload.files.iter().find(|f| &f.name == name),
        None => upload.files.first(),
    }
    .ok_or_else(|| ApiError::not_found(format!("upload {id} has no such file")))?;
    let key = format!("{}/{}", upload.artifact_key, file.name);
    super::download::serve(state.engine.artifacts(), &key, &file.name, &file.content_type, &headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_odd_characters() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("C:\\docs\\AC 25-7D.pdf"), "AC 25-7D.pdf");
        assert_eq!(sanitize_file_name(".hidden"), "hidden");
        assert_eq!(sanitize_file_name("a\u{0}b\"c<d>.txt"), "a_b_c_d_.txt");
        assert_eq!(sanitize_file_name("民用航空规章.docx"), "民用航空规章.docx");
        assert_eq!(sanitize_file_name("///"), "file");
    }

    #[test]
    fn content_types_come_from_the_bytes_first() {
        assert_eq!(sniff_content_type(b"%PDF-1.7\n...", "notes.txt"), "application/pdf");
        assert_eq!(sniff_content_type("# 第25部".as_bytes(), "part25.md"), "text/markdown");
        assert_eq!(sniff_content_type(b"plain words", "readme"), "text/plain");
        assert_eq!(sniff_content_type(&[0, 159, 146, 150, 0, 1, 2], "x.md"), "application/octet-stream");
    }
}
