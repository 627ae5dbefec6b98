//! Reading a request body within the wire format's limits: 4 MiB as sent and
//! 4 MiB decompressed, the second enforced while inflating, so a gzip bomb
//! costs at most 4 MiB of memory before it is refused.

use std::io::Read as _;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt as _;

use super::error::ApiError;

/// The largest body accepted, as sent and decompressed (wire-format.md section 2).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How the body is encoded.
#[derive(Debug)]
enum Encoding {
    Identity,
    Gzip,
}

/// Checks the content type and encoding (415 otherwise).
fn encoding(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<Encoding, ApiError> {
    let content_type = content_type.unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, not {content_type:?}"),
        ));
    }
    match content_encoding.unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?} is not supported; use gzip or none"),
        )),
    }
}

fn too_large(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} is over {MAX_BODY_BYTES} bytes; send fewer events per request"),
    )
}

/// How long a body may take to arrive: a client that trickles one in must not
/// hold a request slot (or a shutdown) for ever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the body as sent within [`BODY_TIMEOUT`] (408 after it).
async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(BODY_TIMEOUT, read_limited_untimed(headers, body)).await {
        Ok(read) => read,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body took over {} s to arrive", BODY_TIMEOUT.as_secs()),
        )),
    }
}

/// Reads the body as sent, refusing it as soon as it passes the limit.
async fn read_limited_untimed(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large("the body"));
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > MAX_BODY_BYTES {
                return Err(too_large("the body"));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out.into())
}

/// Inflates gzip into at most `limit` bytes; one byte more is a 413.
pub fn gunzip_limited(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed).take(limit as u64 + 1);
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    decoder
        .read_to_end(&mut out)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(too_large("the decompressed body"));
    }
    Ok(out)
}

/// The JSON bytes of a body as sent: content type and encoding checked, the
/// decompressed limit applied. No I/O: what the fuzz target drives.
pub fn decode(content_type: Option<&str>, content_encoding: Option<&str>, sent: Bytes) -> Result<Bytes, ApiError> {
    match encoding(content_type, content_encoding)? {
        Encoding::Identity if sent.len() > MAX_BODY_BYTES => Err(too_large("the body")),
        Encoding::Identity => Ok(sent),
        Encoding::Gzip => Ok(gunzip_limited(&sent, MAX_BODY_BYTES)?.into()),
    }
}

/// The request's JSON bytes: content type and encoding checked (before the
/// body is read), both limits applied.
pub async fn json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    let (content_type, content_encoding) = (header(header::CONTENT_TYPE), header(header::CONTENT_ENCODING));
    encoding(content_type, content_encoding)?;
    let sent = read_limited(headers, body).await?;
    decode(content_type, content_encoding, sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024);
        let err = gunzip_limited(&bomb, MAX_BODY_BYTES).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(err.message.contains("decompressed"));
    }

    #[test]
    fn exactly_the_limit_inflates_and_one_byte_more_does_not() {
        let data = vec![b' '; 1000];
        assert_eq!(gunzip_limited(&gzip(&data), 1000).unwrap().len(), 1000);
        assert_eq!(
            gunzip_limited(&gzip(&data), 999).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            gunzip_limited(b"not gzip", 1000).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn content_type_and_encoding_are_checked() {
        assert!(encoding(None, None).is_err());
        assert!(matches!(
            encoding(Some("application/json; charset=utf-8"), None),
            Ok(Encoding::Identity)
        ));
        assert!(matches!(
            encoding(Some("Application/JSON"), Some("GZIP")),
            Ok(Encoding::Gzip)
        ));
        let err = encoding(Some("application/json"), Some("br")).unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(encoding(Some("text/plain"), None)
            .unwrap_err()
            .message
            .contains("text/plain"));
    }
}
