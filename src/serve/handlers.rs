//! The routes: the C2PA Soft Binding Resolution API 1.0 (`/matches/…`,
//! `/manifests/…`, `/services/…`), earmark's screening and publishing API
//! (`/v1/…`), and the operational ones (`/healthz`, `/metrics`,
//! `/openapi.json`).

use super::binding::{earmark_id, parse_earmark_id, parse_value};
use super::upload::{spool, Upload, UploadError};
use super::State;
use crate::catalogue::{CatalogueError, Entry};
use crate::payload::{Payload, SOFT_BINDING_ALG};
use crate::Verification;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path as UrlPath, Query, Request, State as Shared};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Default and largest `maxResults`.
const MAX_RESULTS: usize = 10;
const MAX_RESULTS_LIMIT: usize = 1000;

/// Largest body `POST /v1/catalogue/entries` reads (a manifest is about
/// 1.5 KiB, so some 40,000 entries).
const MAX_JSON_BYTES: usize = 64 << 20;

/// Largest body of `POST /matches/byBinding` (a query of two short strings).
const MAX_QUERY_BYTES: usize = 64 << 10;

/// A failed request: its status, a short machine-readable code (also the
/// `earmark_errors_total` kind) and one sentence for people.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn catalogue(e: CatalogueError) -> Self {
        if e.is_unavailable() {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "catalogue_unavailable",
                format!("{e}; try again shortly"),
            )
        } else if matches!(e, CatalogueError::Conflict { .. }) {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        } else {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "catalogue_error",
                e.to_string(),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        let mut response = (self.status, body).into_response();
        // The code travels to the metrics middleware.
        response.extensions_mut().insert(ErrorCode(self.code));
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The error code of a failed response, for the metrics.
#[derive(Clone, Copy)]
struct ErrorCode(&'static str);

type Answer<T> = Result<T, ApiError>;

/// Times every routed request, counts it, applies the time limit, and logs
/// one line (method, path without the query, status, time): never a body,
/// a header or a token.
pub(crate) async fn observe(Shared(s): Shared<Arc<State>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let t0 = Instant::now();
    let limit = s.options.request_timeout;
    let response = match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than the service's limit of {} s",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    };
    let status = response.status().as_u16();
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        s.metrics.error(code);
    }
    let took = t0.elapsed();
    s.metrics.request(&route, status, took);
    if s.options.log {
        eprintln!(
            "earmark serve: {method} {path} {status} {:.1} ms",
            took.as_secs_f64() * 1e3
        );
    }
    response
}

/// Requests for paths the service does not have.
pub(crate) async fn not_found(Shared(s): Shared<Arc<State>>, req: Request) -> Response {
    s.metrics
        .request("unmatched", 404, std::time::Duration::ZERO);
    s.metrics.error("not_found");
    if s.options.log {
        eprintln!("earmark serve: {} {} 404", req.method(), req.uri().path());
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {} (see /openapi.json)", req.uri().path()),
    )
    .into_response()
}

/// Constant-time comparison of a presented token with the known ones.
fn token_matches(presented: &str, tokens: &[String]) -> bool {
    let mut any = false;
    for t in tokens {
        let (a, b) = (presented.as_bytes(), t.as_bytes());
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
        }
        any |= diff == 0;
    }
    any
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl State {
    /// Reads are open unless read tokens were given; a write token reads too.
    fn check_read(&self, headers: &HeaderMap) -> Answer<()> {
        if self.options.read_tokens.is_empty() {
            return Ok(());
        }
        match bearer(headers) {
            Some(t)
                if token_matches(t, &self.options.read_tokens)
                    || token_matches(t, &self.options.write_tokens) =>
            {
                Ok(())
            }
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this service's reads need a bearer token (Authorization: Bearer …)",
            )),
        }
    }

    fn check_write(&self, headers: &HeaderMap) -> Answer<()> {
        if self.options.write_tokens.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "writes_disabled",
                "this service takes no writes (start it with --write-token-file)",
            ));
        }
        match bearer(headers) {
            Some(t) if token_matches(t, &self.options.write_tokens) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "writing to the catalogue needs the bearer token of --write-token-file",
            )),
        }
    }

    fn upload_error(&self, e: UploadError) -> ApiError {
        match e {
            UploadError::TooLarge(limit) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the upload is larger than this service's limit of {limit} bytes"),
            ),
            UploadError::Empty => ApiError::new(
                StatusCode::BAD_REQUEST,
                "empty_upload",
                "no audio in the request: send the file as the body, or in a multipart form as a field with a file name (or named file or audio)",
            ),
            UploadError::BadForm(why) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_multipart",
                format!("the multipart form does not parse: {why}"),
            ),
            UploadError::Client(why) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "client_disconnected",
                format!("the upload did not arrive whole: {why}"),
            ),
            UploadError::Io(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "spool_failed",
                format!("the service could not store the upload: {e}"),
            ),
        }
    }

    /// Runs the verifier over an upload on a blocking thread, no more at
    /// once than the service has decoders. The verdict of a file that does
    /// not decode is `Err` with the reason (the caller picks the status).
    async fn examine(&self, upload: Upload) -> Answer<Result<Verification, String>> {
        let permit = Arc::clone(&self.decoders)
            .acquire_owned()
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the service is shutting down",
                )
            })?;
        let opts = self.options.verify.clone();
        let joined = tokio::task::spawn_blocking(move || {
            // Held until the decoder is done, even if the request timed out.
            let _permit = permit;
            crate::error::catch_quietly(|| crate::verify(upload.file, &opts))
        })
        .await;
        match joined {
            Ok(Ok(Ok(v))) => {
                self.metrics
                    .detection(if v.marked { "marked" } else { "unmarked" });
                Ok(Ok(v))
            }
            Ok(Ok(Err(e))) if matches!(e.kind(), crate::ErrorKind::Io(_)) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "spool_failed",
                format!("the service could not read the upload back: {e}"),
            )),
            Ok(Ok(Err(e))) => Ok(Err(e.to_string())),
            Ok(Err(panic)) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!(
                    "internal error while examining the upload (a bug in earmark; please report it): {}",
                    crate::error::panic_text(&*panic)
                ),
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("internal error: {e}"),
            )),
        }
    }

    /// The catalogue entries of these payloads (those it has).
    async fn entries(&self, payloads: Vec<Payload>) -> Result<Vec<Entry>, CatalogueError> {
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        self.pool
            .run(move |c| {
                let mut found = Vec::new();
                for p in &payloads {
                    if let Some(e) = c.lookup(p.key_fingerprint, p.track_id)? {
                        found.push(e);
                    }
                }
                Ok(found)
            })
            .await
    }
}

/// `GET /healthz`: the service answers and its catalogue does.
pub(crate) async fn healthz(Shared(s): Shared<Arc<State>>) -> Answer<Json<Value>> {
    s.pool
        .run(|c| c.lookup(0, 0).map(|_| ()))
        .await
        .map_err(ApiError::catalogue)?;
    let mut health = json!({
        "status": "ok",
        "uptime_seconds": s.started.elapsed().as_secs(),
    });
    // Open to probes; where the catalogue lives is said only when reads are.
    if s.options.read_tokens.is_empty() {
        health["catalogue"] = json!(s.options.catalogue.to_string());
    }
    Ok(Json(health))
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(Shared(s): Shared<Arc<State>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// `GET /openapi.json`: the document in the repository.
pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        super::OPENAPI,
    )
        .into_response()
}

/// `GET /services/supportedAlgorithms`.
pub(crate) async fn algorithms(
    Shared(s): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Answer<Json<Value>> {
    s.check_read(&headers)?;
    Ok(Json(
        json!({ "watermarks": [ { "alg": SOFT_BINDING_ALG } ], "fingerprints": [] }),
    ))
}

fn max_results(query: &HashMap<String, String>) -> Answer<usize> {
    match query.get("maxResults") {
        None => Ok(MAX_RESULTS),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(MAX_RESULTS_LIMIT)),
            _ => Err(ApiError::bad_request(format!(
                "maxResults must be a whole number of at least 1, got {v:?}"
            ))),
        },
    }
}

fn check_alg(alg: Option<&str>, required: bool) -> Answer<()> {
    match alg {
        Some(a) if a == SOFT_BINDING_ALG => Ok(()),
        Some(a) => Err(ApiError::bad_request(format!(
            "unsupported soft binding algorithm {a:?}: this service resolves {SOFT_BINDING_ALG}"
        ))),
        None if required => Err(ApiError::bad_request(format!(
            "the query needs alg={SOFT_BINDING_ALG} and a value"
        ))),
        None => Ok(()),
    }
}

/// One match per manifest of each entry, best first, at most `max`: the
/// entry's C2PA manifest (when its stamp made one), then its earmark
/// manifest.
fn matches(entries: &[(Entry, Option<u8>)], max: usize) -> Value {
    let list: Vec<Value> = entries
        .iter()
        .flat_map(|(e, score)| {
            e.c2pa_manifest_id
                .iter()
                .cloned()
                .chain(std::iter::once(earmark_id(e)))
                .map(move |id| {
                    let mut m = json!({ "manifestId": id });
                    if let Some(score) = score {
                        m["similarityScore"] = json!(score);
                    }
                    m
                })
        })
        .take(max)
        .collect();
    json!({ "matches": list })
}

/// `GET /matches/byBinding?alg=io.earmark.v1&value=…`.
pub(crate) async fn by_binding_get(
    Shared(s): Shared<Arc<State>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Answer<Json<Value>> {
    s.check_read(&headers)?;
    check_alg(query.get("alg").map(String::as_str), true)?;
    let value = query
        .get("value")
        .ok_or_else(|| ApiError::bad_request("the query needs a value"))?;
    resolve(&s, value, max_results(&query)?).await
}

/// The body of `POST /matches/byBinding`.
#[derive(Deserialize)]
struct BindingQuery {
    alg: String,
    value: String,
}

/// `POST /matches/byBinding` with `{"alg": …, "value": …}`.
pub(crate) async fn by_binding_post(
    Shared(s): Shared<Arc<State>>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Answer<Json<Value>> {
    s.check_read(req.headers())?;
    let body = read_json_body(req, MAX_QUERY_BYTES).await?;
    let q: BindingQuery = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be a JSON object {{\"alg\": …, \"value\": …}}: {e}"
        ))
    })?;
    check_alg(Some(&q.alg), true)?;
    resolve(&s, &q.value, max_results(&query)?).await
}

async fn resolve(s: &State, value: &str, max: usize) -> Answer<Json<Value>> {
    let payload = parse_value(value).map_err(ApiError::bad_request)?;
    let entries = s
        .entries(vec![payload])
        .await
        .map_err(ApiError::catalogue)?;
    let scored: Vec<(Entry, Option<u8>)> = entries.into_iter().map(|e| (e, None)).collect();
    Ok(Json(matches(&scored, max)))
}

/// How sure a detection is, 0–100: the share of coded bits that agree with
/// the decoded payload above chance (0.5 → 0, 1.0 → 100).
fn similarity(bit_agreement: f32) -> u8 {
    (((bit_agreement - 0.5) / 0.5).clamp(0.0, 1.0) * 100.0).round() as u8
}

/// `POST /matches/byContent`: the upload is screened and each marker found
/// resolved in the catalogue.
pub(crate) async fn by_content(
    Shared(s): Shared<Arc<State>>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Answer<Json<Value>> {
    s.check_read(req.headers())?;
    check_alg(query.get("alg").map(String::as_str), false)?;
    let max = max_results(&query)?;
    let upload = spool(req, s.options.max_upload, &s.options.spool_dir)
        .await
        .map_err(|e| s.upload_error(e))?;
    let v = s.examine(upload).await?.map_err(|why| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_audio",
            format!("the upload is not audio earmark can read: {why}"),
        )
    })?;
    let scores: Vec<(Payload, u8)> = v
        .markers
        .iter()
        .map(|m| (m.payload, similarity(m.bit_agreement)))
        .collect();
    let entries = s
        .entries(scores.iter().map(|(p, _)| *p).collect())
        .await
        .map_err(ApiError::catalogue)?;
    let scored: Vec<(Entry, Option<u8>)> = entries
        .into_iter()
        .map(|e| {
            let score = scores
                .iter()
                .find(|(p, _)| Some(*p) == e.payload())
                .map(|(_, sc)| *sc);
            (e, score)
        })
        .collect();
    Ok(Json(matches(&scored, max)))
}

/// `GET /manifests/{manifestId}`: a C2PA manifest id (`urn:c2pa:…`) gives
/// the C2PA manifest store the stamp made (`application/c2pa`); an earmark
/// id (`urn:earmark:KEY:TRACK`) gives the signed earmark manifest
/// (`application/json`).
pub(crate) async fn manifest(
    Shared(s): Shared<Arc<State>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Answer<Response> {
    s.check_read(&headers)?;
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no manifest {id} in this catalogue"),
        )
    };
    if let Some(payload) = parse_earmark_id(&id) {
        let entry = s
            .entries(vec![payload])
            .await
            .map_err(ApiError::catalogue)?
            .into_iter()
            .next()
            .ok_or_else(missing)?;
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            entry.manifest,
        )
            .into_response());
    }
    let plain = id.len() <= 256 && id.bytes().all(|b| b.is_ascii_graphic());
    if !plain || (!id.starts_with("urn:c2pa:") && !id.starts_with("urn:uuid:")) {
        return Err(ApiError::bad_request(format!(
            "{id:?} is not a manifest id of this service (urn:c2pa:… or urn:earmark:1a2b3c4d:42)"
        )));
    }
    let wanted = id.clone();
    let store = s
        .pool
        .run(move |c| c.find_c2pa(&wanted))
        .await
        .map_err(ApiError::catalogue)?
        .and_then(|e| e.c2pa_store)
        .ok_or_else(missing)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/c2pa"),
        )],
        store,
    )
        .into_response())
}

/// `POST /v1/verify`: `earmark verify --json`'s object for the upload, plus
/// the catalogue entries of the markers found (`catalogue`, when any
/// resolves) or why they could not be looked up (`catalogue_error`).
pub(crate) async fn verify(Shared(s): Shared<Arc<State>>, req: Request) -> Answer<Json<Value>> {
    s.check_read(req.headers())?;
    let upload = spool(req, s.options.max_upload, &s.options.spool_dir)
        .await
        .map_err(|e| s.upload_error(e))?;
    let v = s.examine(upload).await?.map_err(|why| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_audio",
            format!("the upload is not audio earmark can read: {why}"),
        )
    })?;
    let mut out = v.to_json();
    match s
        .entries(v.markers.iter().map(|m| m.payload).collect())
        .await
    {
        Ok(found) => {
            // Rows that contradict the file's own manifest are not answers.
            let (agree, contradict): (Vec<Entry>, Vec<Entry>) = found
                .into_iter()
                .partition(|e| e.contradiction(&v).is_none());
            if !agree.is_empty() {
                out["catalogue"] = agree.iter().map(Entry::summary_json).collect();
            }
            if !contradict.is_empty() {
                out["catalogue_contradictions"] = contradict
                    .iter()
                    .filter_map(|e| e.contradiction(&v))
                    .collect::<Vec<_>>()
                    .into();
            }
        }
        Err(e) => out["catalogue_error"] = json!(e.to_string()),
    }
    Ok(Json(out))
}

/// `POST /v1/catalogue/entries`: rows stamped elsewhere (a JSON object, an
/// array of them, or JSON Lines as `catalogue export --format jsonl`
/// writes), added in one transaction with the rules of `catalogue merge`.
pub(crate) async fn publish(Shared(s): Shared<Arc<State>>, req: Request) -> Answer<Json<Value>> {
    // The token is checked before a byte of the body is read.
    s.check_write(req.headers())?;
    let body = read_json_body(req, MAX_JSON_BYTES).await?;
    let entries = parse_entries(&body).map_err(ApiError::bad_request)?;
    for (i, e) in entries.iter().enumerate() {
        check_published(e)
            .map_err(|why| ApiError::bad_request(format!("entry {}: {why}", i + 1)))?;
    }
    let received = entries.len();
    let added = s
        .pool
        .run(move |c| c.merge_entries(&entries))
        .await
        .map_err(ApiError::catalogue)?;
    Ok(Json(json!({ "received": received, "added": added })))
}

/// A published row must carry the manifest it claims: a signed earmark
/// manifest whose signature verifies, whose signer made the key
/// fingerprint, and whose payload is the row's.
fn check_published(e: &Entry) -> Result<(), String> {
    e.check()?;
    let m = crate::provenance::SignedManifest::parse(&e.manifest)
        .map_err(|why| format!("manifest: {why}"))?;
    let check = m.check(&[]);
    if !check.signature_valid {
        return Err("manifest: the signature does not verify".into());
    }
    if !check.payload_matches_signer {
        return Err("manifest: its payload's key is not its signer's".into());
    }
    if Some(m.manifest.payload) != e.payload() {
        let p = m.manifest.payload;
        return Err(format!(
            "manifest: it is for {:08x}:{}, the entry for {}:{}",
            p.key_fingerprint, p.track_id, e.key_fingerprint, e.track_id
        ));
    }
    Ok(())
}

/// Reads a JSON request body of at most `limit` bytes.
async fn read_json_body(req: Request, limit: usize) -> Answer<Bytes> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body is larger than this route's limit of {limit} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "client_disconnected",
                    format!("the body did not arrive whole: {e}"),
                )
            }
        })
}

fn parse_entries(body: &[u8]) -> Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8 JSON".to_string())?;
    let trimmed = text.trim_start();
    // One object, however it is laid out.
    if trimmed.starts_with('{') {
        if let Ok(e) = serde_json::from_str::<Entry>(text) {
            return Ok(vec![e]);
        }
    }
    let entries = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<Entry>>(text)
            .map_err(|e| format!("not an array of entries: {e}"))?
    } else {
        let mut all = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            all.push(
                serde_json::from_str::<Entry>(line)
                    .map_err(|e| format!("line {}: not an entry: {e}", i + 1))?,
            );
        }
        if all.is_empty() {
            return Err("no entries in the body".into());
        }
        all
    };
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        let known = vec!["s3cret-token".to_string()];
        assert!(token_matches("s3cret-token", &known));
        assert!(!token_matches("s3cret-toke", &known));
        assert!(!token_matches("s3cret-token2", &known));
        assert!(!token_matches("", &known));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  s3cret-token "),
        );
        assert_eq!(bearer(&h), Some("s3cret-token"));
    }

    #[test]
    fn similarity_maps_agreement_to_0_100() {
        assert_eq!(similarity(1.0), 100);
        assert_eq!(similarity(0.5), 0);
        assert_eq!(similarity(0.3), 0);
        assert_eq!(similarity(0.9), 80);
    }

    #[test]
    fn entries_come_as_object_array_or_lines() {
        let one = r#"{"key_fingerprint":"1a2b3c4d","track_id":1,"source_path":"a","source_sha256":"x","output_path":"b","output_sha256":"y","title":null,"artist":null,"policy":"p","manifest":"{}","stamped_at":"t"}"#;
        assert_eq!(parse_entries(one.as_bytes()).unwrap().len(), 1);
        assert_eq!(
            parse_entries(format!("[{one},{one}]").as_bytes())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            parse_entries(format!("{one}\n\n{one}\n").as_bytes())
                .unwrap()
                .len(),
            2
        );
        assert!(parse_entries(b"").is_err());
        assert!(parse_entries(b"{\"x\":1}").unwrap_err().contains("line 1"));
    }
}
