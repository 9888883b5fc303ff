//! Streaming a stored file to the client, with single byte ranges.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hangar_sdk::ArtifactStore;
use tokio_util::io::ReaderStream;

use crate::error::{ApiError, ApiResult};

/// A `Range: bytes=…` header resolved against the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    Whole,
    /// Inclusive start, exclusive end.
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses one `bytes=` range; several ranges or other units get the whole file.
pub fn parse_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return ByteRange::Unsatisfiable;
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => Some((start, end.saturating_add(1).min(size))),
        (Ok(start), Err(_)) if end.is_empty() => Some((start, size)),
        (Err(_), Ok(suffix)) if start.is_empty() && suffix > 0 => Some((size.saturating_sub(suffix), size)),
        _ => None,
    };
    match range {
        Some((start, end)) if start < size && start < end => ByteRange::Part(start, end),
        _ => ByteRange::Unsatisfiable,
    }
}

/// Streams `key` (or the requested part of it) as a download named `file_name`.
///
/// # Errors
/// 404 when the key is gone, 416 for a range outside the file.
pub async fn serve(
    artifacts: &ArtifactStore,
    key: &str,
    file_name: &str,
    content_type: &str,
    request: &HeaderMap,
) -> ApiResult<Response> {
    let size = artifacts.size(key).await.map_err(|_| ApiError::not_found("the file is no longer stored"))?;
    let range = parse_range(request.get(header::RANGE).and_then(|v| v.to_str().ok()), size);
    let (status, start, end) = match range {
        ByteRange::Whole => (StatusCode::OK, 0, size),
        ByteRange::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end),
        ByteRange::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {size} bytes; ask for a range inside it"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    let reader = artifacts
        .range_reader(key, start..end)
        .await
        .map_err(|e| ApiError::internal("could not read the stored file", &e))?;
    let mut response = Response::new(Body::from_stream(ReaderStream::with_capacity(reader, 256 << 10)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let ascii: String = file_name.chars().map(|c| if c.is_ascii_graphic() && c != '"' { c } else { '_' }).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(None, 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), ByteRange::Part(0, 10));
        assert_eq!(parse_range(Some("bytes=90-"), 100), ByteRange::Part(90, 100));
        assert_eq!(parse_range(Some("bytes=-5"), 100), ByteRange::Part(95, 100));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), ByteRange::Part(50, 100));
        assert_eq!(parse_range(Some("bytes=100-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=9-3"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), ByteRange::Whole);
    }
}
