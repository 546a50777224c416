//! The service's request parsing: any bytes sent as one HTTP request to a
//! running `earmark serve` (in this process, over loopback, on a SQLite
//! catalogue with one published row). The input is the raw request, so
//! hyper's HTTP/1 parser, the routes' query and path parsing, the upload
//! spooler (raw bodies and multipart forms), the catalogue-entry parser
//! (JSON and JSON Lines) and the verify behind them all see it. Seeds are
//! real requests of every route (fuzz/seeds/serve/).
//!
//! A finding is a crash or abort anywhere in the server, or a request the
//! server has not answered (or closed) within 20 s of the client finishing
//! it: nothing in a request under 1 MB should take that long.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: earmark_fuzz::Capped = earmark_fuzz::Capped;

/// The write token the seeds use for `POST /v1/catalogue/entries`.
const WRITE_TOKEN: &str = "fuzz-write-token";

/// Starts the service once, on a port of its own, and returns its address.
fn server() -> SocketAddr {
    static ADDR: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    *ADDR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("earmark-fuzz-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let db = dir.join("catalogue.db");
        drop(earmark::catalogue::Catalogue::open(db.as_path()).expect("a new catalogue"));
        let mut opts = earmark::serve::ServeOptions::new(earmark::catalogue::Location::Sqlite(db));
        opts.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        opts.write_tokens = vec![WRITE_TOKEN.to_string()];
        opts.max_upload = 4 << 20;
        opts.spool_dir = dir;
        opts.log = false;
        opts.decoders = 1;
        let server = earmark::serve::Server::bind(opts).expect("the service binds");
        let addr = server.local_addr().expect("its address");
        std::thread::spawn(move || server.run());
        addr
    })
}

fuzz_target!(|data: &[u8]| {
    earmark_fuzz::init();
    let addr = server();
    let Ok(mut stream) = TcpStream::connect(addr) else {
        panic!("the service stopped accepting connections");
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(20)));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    // The server may answer (and close) before reading everything.
    let _ = stream.write_all(data);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    match stream.take(8 << 20).read_to_end(&mut answer) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            panic!("no answer within 20 s of a {}-byte request", data.len())
        }
        _ => {}
    }
});
