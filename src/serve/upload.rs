//! Uploads: the request body (raw, or the first file of a multipart form)
//! streamed into an unlinked temporary file, so the decoder can seek while
//! memory stays at one body chunk per request and nothing is left on disk,
//! whatever happens to the process.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use futures_util::StreamExt as _;
use std::io::{Seek as _, Write as _};
use std::path::Path;

/// Why an upload was not taken.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// More bytes than the limit (said or sent).
    TooLarge(u64),
    /// The body was empty, or a form carried no file.
    Empty,
    /// The client went away mid-body.
    Client(String),
    /// A multipart body that does not parse.
    BadForm(String),
    /// The spool file could not be written.
    Io(std::io::Error),
}

/// Bytes of multipart framing and small fields allowed beyond the limit
/// when the length is known up front.
const FORM_ALLOWANCE: u64 = 64 << 10;

/// A multipart error: a body that could not be read (the client went away)
/// or a form that does not parse.
fn form_error(e: axum::extract::multipart::MultipartError) -> UploadError {
    // axum says 500 only for a failed read of the body itself.
    if e.status() == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        UploadError::Client(e.body_text())
    } else {
        UploadError::BadForm(e.body_text())
    }
}

/// A spooled upload, positioned at its start.
pub(crate) struct Upload {
    /// The bytes, in a file with no name.
    pub(crate) file: std::fs::File,
}

/// Streams the body of `req` into a temporary file under `dir`, refusing
/// more than `limit` bytes (at once when `Content-Length` says so).
pub(crate) async fn spool(req: Request, limit: u64, dir: &Path) -> Result<Upload, UploadError> {
    let said = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    // A form's length includes its framing and other fields: the file
    // itself is counted as it streams.
    let framing = if multipart { FORM_ALLOWANCE } else { 0 };
    if said.is_some_and(|n| n > limit.saturating_add(framing)) {
        return Err(UploadError::TooLarge(limit));
    }
    // Writes go straight to the file: a chunk lands in the page cache in
    // microseconds, and tokio's own file type would keep a second buffer
    // per upload and a blocking thread per write.
    let mut file = tempfile::tempfile_in(dir).map_err(UploadError::Io)?;
    let mut len = 0u64;
    let mut take = |chunk: &[u8]| -> Result<(), UploadError> {
        len += chunk.len() as u64;
        if len > limit {
            Err(UploadError::TooLarge(limit))
        } else {
            Ok(())
        }
    };
    if multipart {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|e| UploadError::BadForm(e.body_text()))?;
        // The audio is the first field with a file name, or named `file`
        // or `audio`; other fields are read past, and count against the
        // limit too.
        let mut field = loop {
            match form.next_field().await {
                Ok(Some(f))
                    if f.file_name().is_some() || matches!(f.name(), Some("file" | "audio")) =>
                {
                    break f
                }
                Ok(Some(mut other)) => loop {
                    match other.chunk().await {
                        Ok(Some(chunk)) => take(&chunk)?,
                        Ok(None) => break,
                        Err(e) => return Err(form_error(e)),
                    }
                },
                Ok(None) => return Err(UploadError::Empty),
                Err(e) => return Err(form_error(e)),
            }
        };
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    take(&chunk)?;
                    file.write_all(&chunk).map_err(UploadError::Io)?;
                }
                Ok(None) => break,
                Err(e) => return Err(form_error(e)),
            }
        }
    } else {
        let mut stream = Body::into_data_stream(req.into_body());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UploadError::Client(e.to_string()))?;
            take(&chunk)?;
            file.write_all(&chunk).map_err(UploadError::Io)?;
        }
    }
    if len == 0 {
        return Err(UploadError::Empty);
    }
    file.rewind().map_err(UploadError::Io)?;
    Ok(Upload { file })
}
