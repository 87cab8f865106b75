//! Downloads: conditional requests, byte ranges (RFC 9110), `Content-Disposition`.

use super::*;

/// How a download was asked for.
#[derive(Debug, Clone, Default)]
pub struct ContentRequest {
    /// The `Range` header.
    pub range: Option<String>,
    /// The `If-Range` header.
    pub if_range: Option<String>,
    /// The `If-None-Match` header.
    pub if_none_match: Option<String>,
    /// Whether the client prefers a redirect to a presigned URL.
    pub redirect: bool,
}

/// What a download answers.
pub enum Content {
    /// The client has these bytes already (its `If-None-Match` matched).
    NotModified(ArtifactOut),
    /// Fetch the bytes from this presigned URL.
    Redirect(String),
    /// The bytes, or the `range` of them.
    Bytes {
        /// The artifact.
        artifact: ArtifactOut,
        /// The part being sent, if not the whole.
        range: Option<ByteRange>,
        /// The bytes.
        stream: ByteStream,
    },
}

/// The `ETag` of an artifact's content: its SHA-256, quoted.
pub fn etag(artifact: &ArtifactOut) -> String {
    format!("\"{}\"", artifact.sha256)
}

/// `attachment` with the name as a quoted ASCII fallback and as RFC 5987 UTF-8.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Send everything (no range, or one to ignore: another unit, several ranges, bad
    /// syntax, as RFC 9110 allows).
    Full,
    /// Send this part (206).
    Partial(ByteRange),
    /// Nothing of the object is in the range (416).
    Unsatisfiable,
}

/// Interprets a `Range` header for an object of `size` bytes.
pub fn parse_range(header: &str, size: u64) -> RangeAnswer {
    let Some((unit, spec)) = header.trim().split_once('=') else {
        return RangeAnswer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // A suffix: the last N bytes.
        return match number(last) {
            None => RangeAnswer::Full,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Partial(ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }),
        };
    }
    let Some(start) = number(first) else {
        return RangeAnswer::Full;
    };
    let end = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(end) if end >= start => Some(end),
            _ => return RangeAnswer::Full,
        }
    };
    if start >= size {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Partial(ByteRange {
        start,
        end: end.map_or(size - 1, |end| end.min(size - 1)),
    })
}

/// An artifact's bytes, as the request asks for them.
pub async fn content(
    state: &Context,
    id: Uuid,
    request: ContentRequest,
) -> Result<Content, ArtifactError> {
    let artifact = get(state, id).await?;
    let tag = etag(&artifact);
    if request
        .if_none_match
        .as_deref()
        .is_some_and(|header| etag_matches(header, &tag))
    {
        return Ok(Content::NotModified(artifact));
    }
    if request.redirect
        && let Some(url) = state
            .storage
            .presign(
                id,
                &artifact.content_type,
                &content_disposition(&artifact.name),
            )
            .await?
    {
        return Ok(Content::Redirect(url));
    }
    // A range applies only to the version the client has (`If-Range`), else send all.
    let range = match (&request.range, &request.if_range) {
        (Some(range), None) => parse_range(range, artifact.size),
        (Some(range), Some(if_range)) if if_range.trim() == tag => {
            parse_range(range, artifact.size)
        }
        _ => RangeAnswer::Full,
    };
    let range = match range {
        RangeAnswer::Full => None,
        RangeAnswer::Partial(range) => Some(range),
        RangeAnswer::Unsatisfiable => {
            return Err(ArtifactError::RangeNotSatisfiable {
                size: artifact.size,
            });
        }
    };
    let stream = match state.storage.read(id, range).await {
        Ok(stream) => stream,
        // Deleted between the two reads: the artifact is gone.
        Err(StorageError::NotFound) => {
            tracing::warn!(artifact = %id, "an artifact's object is missing (deleted meanwhile?)");
            return Err(DomainError::not_found(ErrorCode::ArtifactNotFound, id).into());
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Content::Bytes {
        artifact,
        range,
        stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let part = |start, end| RangeAnswer::Partial(ByteRange { start, end });
        assert_eq!(parse_range("bytes=0-9", 100), part(0, 9));
        assert_eq!(parse_range("bytes=90-200", 100), part(90, 99));
        assert_eq!(parse_range("bytes=10-", 100), part(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeAnswer::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-b",
            "bytes",
        ] {
            assert_eq!(parse_range(ignored, 100), RangeAnswer::Full, "{ignored}");
        }
    }

    #[test]
    fn content_disposition_quotes_safely_and_keeps_utf8() {
        assert_eq!(
            content_disposition("r\u{e9}sum\u{e9} \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
    }
}
