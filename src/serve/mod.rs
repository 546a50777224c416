//! `earmark serve`: screening and resolution over HTTP for platforms,
//! dataset curators and labels, on a catalogue (SQLite, or PostgreSQL shared
//! by several replicas).
//!
//! * The C2PA Soft Binding Resolution API 1.0 over the catalogue:
//!   `GET|POST /matches/byBinding` (a marker payload as the soft-binding
//!   value of algorithm [`SOFT_BINDING_ALG`](crate::payload::SOFT_BINDING_ALG)),
//!   `POST /matches/byContent` (audio in, matches out), `GET
//!   /manifests/{manifestId}`, `GET /services/supportedAlgorithms`.
//! * `POST /v1/verify`: `earmark verify --json`'s object for an upload, with
//!   the catalogue entries of the markers found.
//! * `POST /v1/catalogue/entries` (bearer token): rows stamped elsewhere.
//! * `GET /openapi.json` (the document in `src/serve/openapi.json`),
//!   `/healthz`, `/metrics` (Prometheus).
//!
//! Uploads stream into an unlinked temporary file (the decoder needs to
//! seek), so memory per request is one body chunk while uploading and the
//! verifier's bounded working set (about 16 MiB) while decoding; at most
//! [`ServeOptions::decoders`] uploads decode at once. SIGTERM or Ctrl-C stop
//! taking connections, let the requests in flight finish, then return.
//!
//! The HTTP stack is axum (hyper, tokio); the engine and the catalogue are
//! synchronous and run on tokio's blocking threads.

mod binding;
mod handlers;
mod metrics;
mod pool;
mod upload;

use crate::catalogue::Location;
use crate::error::{Error, ErrorKind, Result};
use crate::VerifyOptions;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The OpenAPI 3.1 document of the service, as served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// How the service runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The catalogue to resolve payloads in (and write published rows to).
    pub catalogue: Location,
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// How uploads are verified (watermark key, trusted signers, the
    /// speed/tempo/pitch search). Default: [`VerifyOptions::default`].
    pub verify: VerifyOptions,
    /// Bearer tokens that may write (`POST /v1/catalogue/entries`). None:
    /// writes are refused.
    pub write_tokens: Vec<String>,
    /// Bearer tokens that may read. None: reads are open.
    pub read_tokens: Vec<String>,
    /// Largest upload, bytes. Default 1 GiB (a 48 kHz 24-bit stereo WAV of
    /// about 60 minutes).
    pub max_upload: u64,
    /// Longest a request may take, upload included. Default 120 s.
    pub request_timeout: Duration,
    /// Where uploads are spooled (unlinked files). Default: the system's
    /// temporary folder.
    pub spool_dir: PathBuf,
    /// Uploads decoded at once. Default: one per CPU.
    pub decoders: usize,
    /// Catalogue connections open at once. Default 16.
    pub connections: usize,
    /// One line per request on stderr (method, path, status, time).
    pub log: bool,
}

impl ServeOptions {
    /// Defaults for a catalogue.
    pub fn new(catalogue: Location) -> ServeOptions {
        ServeOptions {
            catalogue,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            verify: VerifyOptions::default(),
            write_tokens: Vec::new(),
            read_tokens: Vec::new(),
            max_upload: 1 << 30,
            request_timeout: Duration::from_secs(120),
            spool_dir: std::env::temp_dir(),
            decoders: std::thread::available_parallelism().map_or(2, |n| n.get()),
            connections: 16,
            log: true,
        }
    }
}

/// What every request shares.
pub(crate) struct State {
    options: ServeOptions,
    pool: Arc<pool::Pool>,
    metrics: metrics::Metrics,
    decoders: Arc<tokio::sync::Semaphore>,
    started: Instant,
}

/// A bound, not yet running service.
pub struct Server {
    listener: std::net::TcpListener,
    state: Arc<State>,
}

impl Server {
    /// Opens the catalogue (a wrong location, an unreachable database or a
    /// missing SQLite file fails here) and binds the address.
    pub fn bind(options: ServeOptions) -> Result<Server> {
        let where_ = options.catalogue.to_string();
        if let Some(p) = options.catalogue.as_path() {
            if !p.is_file() {
                return Err(Error::new(
                    p,
                    ErrorKind::Other(
                        "no such catalogue file (stamp --out-dir makes one; a postgres:// URL names a database)"
                            .into(),
                    ),
                ));
            }
        }
        let pool = pool::Pool::new(options.catalogue.clone(), options.connections)
            .map_err(|e| Error::new(where_.as_str(), ErrorKind::Other(e.to_string())))?;
        check_spool_dir(&options.spool_dir)?;
        let listener = std::net::TcpListener::bind(options.listen).map_err(|e| {
            Error::new(
                "",
                ErrorKind::Other(format!("cannot listen on {}: {e}", options.listen)),
            )
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::new("", ErrorKind::Io(e)))?;
        let decoders = Arc::new(tokio::sync::Semaphore::new(options.decoders.max(1)));
        Ok(Server {
            listener,
            state: Arc::new(State {
                options,
                pool,
                metrics: metrics::Metrics::default(),
                decoders,
                started: Instant::now(),
            }),
        })
    }

    /// The address it listens on (the port, when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::new("", ErrorKind::Io(e)))
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in
    /// flight and returns.
    pub fn run(self) -> Result<()> {
        let io = |e: std::io::Error| Error::new("", ErrorKind::Io(e));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("earmark-serve")
            .build()
            .map_err(io)?;
        // The catalogue connections must be closed outside the runtime
        // (PostgreSQL's synchronous client runs one of its own), so the
        // last reference to the state is dropped here, after it.
        let state = Arc::clone(&self.state);
        let served = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener).map_err(io)?;
            accept_until_signal(listener, router(self.state)).await;
            Ok(())
        });
        drop(runtime);
        drop(state);
        served
    }
}

/// Largest read buffer of one connection: what an upload can hold in memory
/// before the handler has written it to its spool file.
const CONNECTION_BUFFER: usize = 64 << 10;

/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves each accepted connection on its own task until SIGTERM/SIGINT;
/// then stops accepting (the listener is closed), lets every connection
/// finish the request it is in, and returns.
async fn accept_until_signal(listener: tokio::net::TcpListener, app: Router) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(CONNECTION_BUFFER)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away is that connection's business.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Binds and runs: [`Server::bind`] then [`Server::run`].
pub fn serve(options: ServeOptions) -> Result<()> {
    Server::bind(options)?.run()
}

fn check_spool_dir(dir: &Path) -> Result<()> {
    tempfile::tempfile_in(dir).map(drop).map_err(|e| {
        Error::new(
            dir,
            ErrorKind::Other(format!("cannot spool uploads here: {e}")),
        )
    })
}

fn router(state: Arc<State>) -> Router {
    let uploads = DefaultBodyLimit::disable();
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(handlers::openapi))
        .route("/services/supportedAlgorithms", get(handlers::algorithms))
        .route(
            "/matches/byBinding",
            get(handlers::by_binding_get).post(handlers::by_binding_post),
        )
        .route(
            "/matches/byContent",
            post(handlers::by_content).layer(uploads),
        )
        .route("/manifests/{manifest_id}", get(handlers::manifest))
        .route("/v1/verify", post(handlers::verify).layer(uploads))
        // Bodies are read with their own limits, after the token check.
        .route("/v1/catalogue/entries", post(handlers::publish))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            handlers::observe,
        ))
        .fallback(handlers::not_found)
        .with_state(state)
}

/// Resolves on SIGTERM (how orchestrators stop a replica) or SIGINT.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
