//! Uploads: the request body (raw, or the first file of a multipart form)
//! streamed into an unlinked temporary file, so the decoder can seek while
//! memory stays at one body chunk per request and nothing is left on disk,
//! whatever happens to the process.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use futures_util::StreamExt as _;
use std::path::Path;
use tokio::io::AsyncWriteExt as _;

/// Why an upload was not taken.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// More bytes than the limit (said or sent).
    TooLarge(u64),
    /// The body was empty, or a form carried no file.
    Empty,
    /// The client went away or sent a malformed body.
    Client(String),
    /// The spool file could not be written.
    Io(std::io::Error),
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
    if said.is_some_and(|n| n > limit) {
        return Err(UploadError::TooLarge(limit));
    }
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let std_file = tempfile::tempfile_in(dir).map_err(UploadError::Io)?;
    let mut file = tokio::fs::File::from_std(std_file);
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
            .map_err(|e| UploadError::Client(e.body_text()))?;
        // The first field that is a file (or the only field) is the audio.
        let mut field = loop {
            match form.next_field().await {
                Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => break f,
                Ok(Some(_)) => continue,
                Ok(None) => return Err(UploadError::Empty),
                Err(e) => return Err(UploadError::Client(e.body_text())),
            }
        };
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    take(&chunk)?;
                    file.write_all(&chunk).await.map_err(UploadError::Io)?;
                }
                Ok(None) => break,
                Err(e) => return Err(UploadError::Client(e.body_text())),
            }
        }
    } else {
        let mut stream = Body::into_data_stream(req.into_body());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UploadError::Client(e.to_string()))?;
            take(&chunk)?;
            file.write_all(&chunk).await.map_err(UploadError::Io)?;
        }
    }
    if len == 0 {
        return Err(UploadError::Empty);
    }
    file.flush().await.map_err(UploadError::Io)?;
    let mut file = file.into_std().await;
    use std::io::Seek as _;
    file.rewind().map_err(UploadError::Io)?;
    Ok(Upload { file })
}
