//! `earmark serve` from outside: the real binary on a loopback port, spoken
//! to over raw HTTP/1.1, on a SQLite catalogue and on a real PostgreSQL
//! server (the same tests for both), with the faults a platform meets:
//! oversized, slow, broken and non-audio uploads, missing tokens, SIGTERM
//! with a request in flight, the database going away and coming back.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `earmark serve`.
struct Service {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Service {
    /// Starts it on a free port and waits for its "serving" line.
    fn start(catalogue: &str, extra: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_earmark"))
            .env("EARMARK_REGISTRY", test_registry())
            .args(["serve", "--catalogue", catalogue, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split_once("on http://").map(|(_, r)| r) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start:\n{}", log.lock().unwrap());
            }
        };
        Service { child, addr, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn get(&self, path: &str) -> Reply {
        request(&self.addr, "GET", path, &[], b"")
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        request(&self.addr, "POST", path, headers, body)
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_for(&mut self.child, Duration::from_secs(60))
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t0.elapsed() < limit, "the service did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The status, and for an error the `{"error": {"code"}}` code.
    fn expect(&self, status: u16, code: Option<&str>) -> &Self {
        assert_eq!(self.status, status, "{}", self.text());
        if let Some(code) = code {
            assert_eq!(self.json()["error"]["code"], code, "{}", self.text());
            let message = self.json()["error"]["message"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(!message.is_empty());
        }
        self
    }
}

fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 4 + size..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s
}

fn head(method: &str, path: &str, addr: &str, headers: &[(&str, &str)]) -> String {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        h.push_str(&format!("{n}: {v}\r\n"));
    }
    h
}

/// Opens a connection and sends a request's head (no body yet).
fn send_head(method: &str, path: &str, addr: &str, headers: &[(&str, &str)]) -> TcpStream {
    let mut sock = connect(addr);
    let mut h = head(method, path, addr, headers);
    h.push_str("\r\n");
    sock.write_all(h.as_bytes()).unwrap();
    sock
}

fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = connect(addr);
    let mut h = head(method, path, addr, headers);
    h.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(h.as_bytes()).unwrap();
    // A server that answers early (413) may close before the body is sent.
    let _ = s.write_all(body);
    read_reply(&mut s)
}

fn multipart(file: &[u8], name: &str) -> (String, Vec<u8>) {
    let boundary = "earmark-test-boundary-7d1c";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"{name}\"\r\n\
         Content-Type: audio/mpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A stamped batch in `catalogue` and a bare 8 s MP3 clip of one of its
/// outputs: (clip bytes, the clip's source path, the catalogue rows).
struct Stamped {
    dir: tempfile::TempDir,
    clip: Vec<u8>,
    source: String,
    entries: Vec<earmark::catalogue::Entry>,
}

fn stamped_catalogue(t: &TestCatalogue) -> Stamped {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = keygen(dir.path(), "k");
    let lib = dir.path().join("lib");
    two_track_library(&lib, 14.0);
    let out = dir.path().join("out");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--catalogue",
        &t.location,
        "--quiet",
    ])
    .expect_code(0);
    let entries = t.open().entries().unwrap();
    assert_eq!(entries.len(), 2);
    let rock = entries
        .iter()
        .find(|e| e.source_path.ends_with("0.wav"))
        .unwrap();
    let clip = dir.path().join("clip.mp3");
    ffmpeg(&[
        "-i",
        &rock.output_path,
        "-ss",
        "3",
        "-t",
        "8",
        "-map_metadata",
        "-1",
        "-b:a",
        "128k",
        s(&clip),
    ]);
    Stamped {
        clip: std::fs::read(&clip).unwrap(),
        source: rock.source_path.clone(),
        entries,
        dir,
    }
}

fn base64_payload(e: &earmark::catalogue::Entry) -> String {
    // Standard base64 of the 8 payload bytes, by hand: the test must not
    // share the service's encoder.
    let mut bytes = u32::from_str_radix(&e.key_fingerprint, 16)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    bytes.extend_from_slice(&e.track_id.to_be_bytes());
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_resolution_api_and_verify_answer_from_the_catalogue() {
    for t in TestCatalogue::both() {
        let b = t.backend();
        let st = stamped_catalogue(&t);
        let svc = Service::start(&t.location, &[]);
        let rock = st
            .entries
            .iter()
            .find(|e| e.source_path == st.source)
            .unwrap();
        let id = format!("urn:earmark:{}:{}", rock.key_fingerprint, rock.track_id);
        // The stamp made Content Credentials: their manifest comes first.
        let c2pa_id = rock
            .c2pa_manifest_id
            .clone()
            .expect("stamp --out-dir made C2PA");
        assert!(c2pa_id.starts_with("urn:c2pa:"), "{c2pa_id}");
        let both = serde_json::json!([{ "manifestId": c2pa_id }, { "manifestId": id }]);

        svc.get("/healthz").expect(200, None);
        let algs = svc
            .get("/services/supportedAlgorithms")
            .expect(200, None)
            .json();
        assert_eq!(algs["watermarks"][0]["alg"], "io.earmark.v1", "{b}");

        // byBinding: the API's base64 value, and earmark's own forms.
        let value = base64_payload(rock);
        for v in [
            url_escape(&value),
            format!("{}{:08x}", rock.key_fingerprint, rock.track_id),
            format!("{}:{}", rock.key_fingerprint, rock.track_id),
        ] {
            let r = svc.get(&format!("/matches/byBinding?alg=io.earmark.v1&value={v}"));
            assert_eq!(r.expect(200, None).json()["matches"], both, "{b}: {v}");
        }
        let r = svc.get(&format!(
            "/matches/byBinding?alg=io.earmark.v1&value={}&maxResults=1",
            url_escape(&value)
        ));
        assert_eq!(r.json()["matches"], serde_json::json!([both[0]]), "{b}");
        let query = format!(r#"{{"alg":"io.earmark.v1","value":"{value}"}}"#);
        let r = svc.post(
            "/matches/byBinding",
            &[("Content-Type", "application/json")],
            query.as_bytes(),
        );
        assert_eq!(r.expect(200, None).json()["matches"], both, "{b}");
        // Not in the catalogue: no matches. Malformed: 400.
        let r = svc.get("/matches/byBinding?alg=io.earmark.v1&value=AAAAAAAAAAE%3D");
        assert_eq!(
            r.expect(200, None).json()["matches"],
            serde_json::json!([]),
            "{b}"
        );
        svc.get(&format!(
            "/matches/byBinding?alg=org.other.wm&value={}",
            url_escape(&value)
        ))
        .expect(400, Some("bad_request"));
        svc.get("/matches/byBinding?alg=io.earmark.v1&value=%21%21")
            .expect(400, Some("bad_request"));
        svc.get("/matches/byBinding?alg=io.earmark.v1&value=AAAAAAAAAAE%3D&maxResults=0")
            .expect(400, Some("bad_request"));

        // byContent: a stripped MP3 clip, raw and as a multipart form.
        for (ctype, body) in [
            ("audio/mpeg".to_string(), st.clip.clone()),
            multipart(&st.clip, "clip.mp3"),
        ] {
            let r = svc.post(
                "/matches/byContent?alg=io.earmark.v1",
                &[("Content-Type", &ctype)],
                &body,
            );
            let found = r.expect(200, None).json();
            let ids: Vec<&Value> = found["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| &m["manifestId"])
                .collect();
            assert_eq!(
                ids,
                [&both[0]["manifestId"], &both[1]["manifestId"]],
                "{b}: {ctype}"
            );
            let score = found["matches"][0]["similarityScore"].as_u64().unwrap();
            assert!((50..=100).contains(&score), "{b}: score {score}");
        }

        // The manifest the id names: the catalogue's signed manifest.
        let r = svc.get(&format!("/manifests/{}", url_escape(&id)));
        r.expect(200, None);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), rock.manifest, "{b}");
        svc.get("/manifests/urn%3Aearmark%3A00000001%3A9")
            .expect(404, Some("not_found"));
        // The C2PA id: the manifest store the stamp made, byte for byte.
        let r = svc.get(&format!("/manifests/{}", url_escape(&c2pa_id)));
        r.expect(200, None);
        assert_eq!(r.header("content-type"), Some("application/c2pa"));
        assert_eq!(Some(&r.body), rock.c2pa_store.as_ref(), "{b}");
        svc.get("/manifests/urn%3Ac2pa%3A00000000-0000-0000-0000-000000000000")
            .expect(404, Some("not_found"));
        svc.get("/manifests/whatever")
            .expect(400, Some("bad_request"));

        // /v1/verify: the CLI's JSON plus the catalogue row.
        let r = svc.post("/v1/verify", &[("Content-Type", "audio/mpeg")], &st.clip);
        let v = r.expect(200, None).json();
        assert_eq!(v["marked"], true, "{b}");
        assert_eq!(v["catalogue"][0]["source_path"], st.source.as_str(), "{b}");
        let clip_path = st.dir.path().join("clip.mp3");
        let cli = earmark(["verify", s(&clip_path), "--json"]).json();
        for field in [
            "marked",
            "markers",
            "seconds",
            "sample_rate",
            "audio_sha256",
            "seal_missing",
        ] {
            assert_eq!(v[field], cli[field], "{b}: {field} as the CLI says");
        }

        // What was counted.
        let metrics = svc.get("/metrics").expect(200, None).text();
        for line in [
            "earmark_http_requests_total{route=\"/matches/byContent\",status=\"200\"} 2",
            "earmark_detections_total{result=\"marked\"} 3",
            "earmark_errors_total{kind=\"bad_request\"} 4",
            "earmark_http_request_duration_seconds_count{route=\"/v1/verify\"} 1",
        ] {
            assert!(metrics.contains(line), "{b}: no {line:?} in\n{metrics}");
        }
        svc.get("/no/such/thing").expect(404, Some("not_found"));
        assert_eq!(svc.terminate().code(), Some(0), "{b}");
    }
}

/// Every route the service answers is in its OpenAPI document, and the
/// document is the one in the repository.
#[test]
fn the_openapi_document_covers_every_route() {
    let t = TestCatalogue::sqlite();
    t.open();
    let svc = Service::start(&t.location, &["--quiet"]);
    let doc = svc.get("/openapi.json").expect(200, None).json();
    let repo: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("src/serve/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc, repo);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for (path, method) in [
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/services/supportedAlgorithms", "get"),
        ("/matches/byBinding", "get"),
        ("/matches/byBinding", "post"),
        ("/matches/byContent", "post"),
        ("/manifests/{manifestId}", "get"),
        ("/v1/verify", "post"),
        ("/v1/catalogue/entries", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}

#[test]
fn uploads_are_bounded_and_non_audio_is_refused() {
    let t = TestCatalogue::sqlite();
    t.open();
    let spool = tempfile::tempdir().unwrap();
    let svc = Service::start(
        &t.location,
        &[
            "--max-upload",
            "64K",
            "--request-timeout",
            "2",
            "--spool-dir",
            s(spool.path()),
            "--quiet",
        ],
    );
    // Too large, said up front or found while streaming (chunked).
    let big = vec![0u8; 100 << 10];
    svc.post("/v1/verify", &[], &big)
        .expect(413, Some("too_large"));
    let mut sock = send_head(
        "POST",
        "/matches/byContent",
        &svc.addr,
        &[("Transfer-Encoding", "chunked")],
    );
    for _ in 0..20 {
        if sock
            .write_all(format!("{:x}\r\n", 8192).as_bytes())
            .is_err()
            || sock.write_all(&[1u8; 8192]).is_err()
            || sock.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n");
    read_reply(&mut sock).expect(413, Some("too_large"));
    // Not audio: 422 for verify, 415 for byContent (the API's code).
    let text = b"this is a text file, not a song".repeat(10);
    let r = svc.post("/v1/verify", &[("Content-Type", "audio/wav")], &text);
    r.expect(422, Some("not_audio"));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not"));
    svc.post("/matches/byContent", &[], &text)
        .expect(415, Some("not_audio"));
    svc.post("/v1/verify", &[], b"")
        .expect(400, Some("empty_upload"));
    // A form without a file.
    let form = "--b0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b0undary--\r\n";
    svc.post(
        "/v1/verify",
        &[("Content-Type", "multipart/form-data; boundary=b0undary")],
        form.as_bytes(),
    )
    .expect(400, Some("empty_upload"));
    // Too slow: the client promises 60 KiB and sends 10 bytes.
    let t0 = Instant::now();
    let mut sock = send_head(
        "POST",
        "/v1/verify",
        &svc.addr,
        &[("Content-Length", "61440")],
    );
    sock.write_all(b"0123456789").unwrap();
    read_reply(&mut sock).expect(408, Some("timeout"));
    assert!(t0.elapsed() < Duration::from_secs(10));
    // A client that goes away mid-upload.
    let mut sock = send_head(
        "POST",
        "/v1/verify",
        &svc.addr,
        &[("Content-Length", "50000")],
    );
    sock.write_all(&[7u8; 20000]).unwrap();
    drop(sock);
    std::thread::sleep(Duration::from_millis(300));
    svc.get("/healthz").expect(200, None);
    let metrics = svc.get("/metrics").text();
    assert!(
        metrics.contains("earmark_errors_total{kind=\"client_disconnected\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("earmark_errors_total{kind=\"timeout\"} 1"),
        "{metrics}"
    );
    // Nothing spooled is left behind.
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
}

#[test]
fn writes_need_the_write_token_and_reads_can_be_closed() {
    for t in TestCatalogue::both() {
        let b = t.backend();
        let dir = tempfile::tempdir().unwrap();
        let (w, r) = (
            dir.path().join("write.tokens"),
            dir.path().join("read.tokens"),
        );
        let write_token = "w-5f0c2b8e9a71d3c4e6f8a0b2";
        let read_token = "r-1b3d5f7a9c0e2a4c6e8a0c2e";
        std::fs::write(&w, format!("# publishers\n{write_token}\n")).unwrap();
        std::fs::write(&r, format!("{read_token}\n")).unwrap();
        t.open();
        let svc = Service::start(
            &t.location,
            &["--write-token-file", s(&w), "--read-token-file", s(&r)],
        );
        let bearer = |tok: &str| format!("Bearer {tok}");
        // Reads: closed without a token; the read and the write token open them.
        let q = "/matches/byBinding?alg=io.earmark.v1&value=1a2b3c4d:1";
        let denied = svc.get(q);
        denied.expect(401, Some("unauthorized"));
        assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
        for tok in [read_token, write_token] {
            request(&svc.addr, "GET", q, &[("Authorization", &bearer(tok))], b"").expect(200, None);
        }
        svc.get("/healthz").expect(200, None);
        // Writes: the write token only. The rows are real ones, stamped
        // on "another machine" (their own SQLite catalogue).
        let rows = signed_rows(dir.path());
        let entry = |i: usize| rows[i].clone();
        let lines = format!("{}\n{}\n", entry(0), entry(1));
        let publish = |tok: Option<&str>, body: &str| {
            let auth = tok.map(bearer);
            let mut headers = vec![("Content-Type", "application/x-ndjson")];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.as_str()));
            }
            svc.post("/v1/catalogue/entries", &headers, body.as_bytes())
        };
        publish(None, &lines).expect(401, Some("unauthorized"));
        publish(Some(read_token), &lines).expect(401, Some("unauthorized"));
        let r = publish(Some(write_token), &lines);
        assert_eq!(
            r.expect(200, None).json(),
            serde_json::json!({"received": 2, "added": 2}),
            "{b}"
        );
        let r = publish(Some(write_token), &format!("[{}]", entry(0)));
        assert_eq!(r.expect(200, None).json()["added"], 0, "{b}: already there");
        // One object, pretty-printed, is one entry too.
        let pretty = serde_json::to_string_pretty(&entry(0)).unwrap();
        assert_eq!(
            publish(Some(write_token), &pretty).expect(200, None).json()["received"],
            1
        );
        // The same payload for another output: a conflict, nothing written.
        let mut other = entry(1);
        other["output_path"] = "/elsewhere/two.flac".into();
        publish(Some(write_token), &other.to_string()).expect(409, Some("conflict"));
        // Rows whose manifest is not theirs, or not signed, are refused.
        let mut bad = entry(1);
        bad["source_sha256"] = "nope".into();
        publish(Some(write_token), &bad.to_string()).expect(400, Some("bad_request"));
        let mut forged = entry(1);
        forged["track_id"] = 999.into();
        forged["output_path"] = "/forged.flac".into();
        let r = publish(Some(write_token), &forged.to_string());
        r.expect(400, Some("bad_request"));
        assert!(r.text().contains("manifest"), "{}", r.text());
        let mut unsigned = entry(1);
        unsigned["manifest"] = r#"{"format":"earmark.manifest/1"}"#.into();
        unsigned["output_path"] = "/unsigned.flac".into();
        publish(Some(write_token), &unsigned.to_string()).expect(400, Some("bad_request"));
        publish(Some(write_token), "not json").expect(400, Some("bad_request"));
        assert_eq!(t.open().len().unwrap(), 2, "{b}");
        let id = format!(
            "urn:earmark:{}:{}",
            entry(0)["key_fingerprint"].as_str().unwrap(),
            entry(0)["track_id"]
        );
        let q = format!(
            "/matches/byBinding?alg=io.earmark.v1&value={}:{}",
            entry(0)["key_fingerprint"].as_str().unwrap(),
            entry(0)["track_id"]
        );
        let r = request(
            &svc.addr,
            "GET",
            &q,
            &[("Authorization", &bearer(read_token))],
            b"",
        );
        // Published rows carry their C2PA store too (export writes it).
        let c2pa_id = entry(0)["c2pa_manifest_id"].as_str().unwrap().to_string();
        assert_eq!(
            r.json()["matches"][0]["manifestId"],
            c2pa_id.as_str(),
            "{b}"
        );
        assert_eq!(r.json()["matches"][1]["manifestId"], id.as_str(), "{b}");
        let store = request(
            &svc.addr,
            "GET",
            &format!("/manifests/{}", url_escape(&c2pa_id)),
            &[("Authorization", &bearer(read_token))],
            b"",
        );
        assert_eq!(
            store.expect(200, None).header("content-type"),
            Some("application/c2pa")
        );
        let log = svc.log();
        assert!(
            !log.contains(write_token) && !log.contains(read_token),
            "{b}: a token in the log"
        );
        assert!(log.contains("POST /v1/catalogue/entries 200"), "{b}: {log}");
        drop(svc);
        // Without a write token file, writes are off.
        let svc = Service::start(&t.location, &["--quiet"]);
        publish_to(&svc, write_token, &lines).expect(403, Some("writes_disabled"));
    }
}

/// Catalogue rows stamped elsewhere: two short tracks stamped into a
/// SQLite catalogue of their own, exported as `catalogue export` does.
fn signed_rows(dir: &Path) -> Vec<Value> {
    let (key, _, _) = keygen(dir, "elsewhere");
    let lib = dir.join("elsewhere-lib");
    two_track_library(&lib, 3.0);
    let out = dir.join("elsewhere-out");
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&out),
        "--quiet",
    ])
    .expect_code(0);
    let cat = out.join("earmark-catalogue.db");
    let mut rows = earmark(["catalogue", "export", s(&cat), "--format", "jsonl"])
        .expect_code(0)
        .json_lines();
    rows.sort_by_key(|r| r["source_path"].as_str().unwrap().to_string());
    rows
}

fn publish_to(svc: &Service, token: &str, body: &str) -> Reply {
    svc.post(
        "/v1/catalogue/entries",
        &[("Authorization", &format!("Bearer {token}"))],
        body.as_bytes(),
    )
}

#[test]
fn bad_token_files_and_catalogues_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.tokens");
    std::fs::write(&short, "abc\n").unwrap();
    let t = TestCatalogue::sqlite();
    t.open();
    let run = earmark([
        "serve",
        "--catalogue",
        &t.location,
        "--write-token-file",
        s(&short),
    ]);
    run.expect_one_line_error(&["short.tokens", "line 1", "at least 16"]);
    assert!(!run.stderr.contains("abc"), "the token is not printed");
    earmark(["serve", "--catalogue", s(&dir.path().join("missing.db"))])
        .expect_one_line_error(&["missing.db", "no such catalogue"]);
    earmark([
        "serve",
        "--catalogue",
        "postgres://earmark:pw@127.0.0.1:1/c",
    ])
    .expect_one_line_error(&["catalogue unavailable"]);
    earmark(["serve", "--catalogue", &t.location, "--max-upload", "lots"]).expect_code(2);
}

/// SIGTERM while an upload is arriving: the service stops taking
/// connections, answers the one in flight, then exits 0.
#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let t = TestCatalogue::sqlite();
    let st = stamped_catalogue(&t);
    let rows = signed_rows(st.dir.path());
    let token = "w-sigterm-0123456789abcdef";
    let tokens = st.dir.path().join("w.tokens");
    std::fs::write(&tokens, format!("{token}\n")).unwrap();
    let svc = Service::start(&t.location, &["--write-token-file", s(&tokens), "--quiet"]);
    // An upload and a catalogue write, both half sent.
    let mut upload = send_head(
        "POST",
        "/v1/verify",
        &svc.addr,
        &[("Content-Length", &st.clip.len().to_string())],
    );
    let half = st.clip.len() / 2;
    upload.write_all(&st.clip[..half]).unwrap();
    let row = rows[0].to_string();
    let auth = format!("Bearer {token}");
    let mut write = send_head(
        "POST",
        "/v1/catalogue/entries",
        &svc.addr,
        &[
            ("Authorization", &auth),
            ("Content-Length", &row.len().to_string()),
        ],
    );
    write.write_all(&row.as_bytes()[..row.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(svc.child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    // New connections are no longer taken...
    assert!(
        TcpStream::connect(&svc.addr).is_err(),
        "still accepting after SIGTERM"
    );
    // ...but both requests in flight are finished and answered.
    upload.write_all(&st.clip[half..]).unwrap();
    write.write_all(&row.as_bytes()[row.len() / 2..]).unwrap();
    let r = read_reply(&mut upload);
    assert_eq!(r.expect(200, None).json()["marked"], true);
    let w = read_reply(&mut write);
    assert_eq!(w.expect(200, None).json()["added"], 1);
    let mut svc = svc;
    assert_eq!(
        wait_for(&mut svc.child, Duration::from_secs(30)).code(),
        Some(0)
    );
    assert!(svc.log().contains("every request in flight was answered"));
    // The write is in the catalogue.
    let published = rows[0]["output_path"].as_str().unwrap();
    assert!(
        t.open().find(published).unwrap().is_some(),
        "the write was lost"
    );
}

/// 200 uploads arriving slowly at once: each is spooled to disk, so the
/// service's memory does not grow with what they have sent.
#[test]
fn two_hundred_slow_uploads_keep_memory_bounded() {
    let t = TestCatalogue::sqlite();
    t.open();
    let spool = tempfile::tempdir().unwrap();
    let svc = Service::start(&t.location, &["--quiet", "--spool-dir", s(spool.path())]);
    svc.get("/healthz").expect(200, None);
    let before = svc.rss_kib();
    // 1 MiB each: 200 MiB in flight, which memory must not follow.
    let per: usize = 1 << 20;
    let socks: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut sock = send_head(
                "POST",
                "/v1/verify",
                &svc.addr,
                &[("Content-Length", "10485760")],
            );
            sock.write_all(&vec![3u8; per]).unwrap();
            sock
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let during = svc.rss_kib();
    let sent_mib = (200 * per) >> 20;
    eprintln!(
        "RSS {before} KiB before, {during} KiB with 200 uploads holding {sent_mib} MiB in flight"
    );
    assert!(
        during < before + 48 * 1024,
        "memory grew by {} MiB for {sent_mib} MiB of uploads in flight",
        (during - before) / 1024
    );
    drop(socks);
    std::thread::sleep(Duration::from_millis(500));
    svc.get("/healthz").expect(200, None);
}

/// PostgreSQL stopped under a running service: catalogue answers become 503
/// with a clear body and Retry-After; the service recovers by itself when
/// the database is back. Uses a server of its own (.ci/postgres on another
/// port) so the other tests' server stays up.
#[test]
fn a_postgres_outage_is_503_and_the_service_recovers() {
    if TestCatalogue::postgres().is_none() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let script = Path::new(ROOT).join(".ci/postgres");
    let port = (54400 + std::process::id() % 500).to_string();
    // The script's own folder under /tmp: as root the server runs as the
    // `postgres` user, which cannot enter a private temporary folder.
    let pg_dir = PathBuf::from(format!("/tmp/earmark-pg-{port}"));
    let ctl = |what: &str| {
        let out = Command::new(&script)
            .arg(what)
            .env("EARMARK_PG_PORT", &port)
            .env("EARMARK_PG_DIR", &pg_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let base = ctl("start");
    let url = format!("{base}/postgres");
    let entry = signed_rows(scratch.path()).remove(0);
    let tokens = scratch.path().join("w.tokens");
    std::fs::write(&tokens, "w-0123456789abcdef0123\n").unwrap();
    let svc = Service::start(&url, &["--write-token-file", s(&tokens), "--quiet"]);
    publish_to(&svc, "w-0123456789abcdef0123", &entry.to_string()).expect(200, None);
    let id = format!(
        "urn:earmark:{}:{}",
        entry["key_fingerprint"].as_str().unwrap(),
        entry["track_id"]
    );
    let q = &format!(
        "/matches/byBinding?alg=io.earmark.v1&value={}:{}",
        entry["key_fingerprint"].as_str().unwrap(),
        entry["track_id"]
    );
    assert_eq!(
        svc.get(q).expect(200, None).json()["matches"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "its C2PA and its earmark manifest"
    );

    ctl("stop");
    let down = svc.get(q);
    down.expect(503, Some("catalogue_unavailable"));
    assert!(down.header("retry-after").is_some());
    svc.get("/healthz")
        .expect(503, Some("catalogue_unavailable"));
    publish_to(&svc, "w-0123456789abcdef0123", &entry.to_string())
        .expect(503, Some("catalogue_unavailable"));

    ctl("start");
    let t0 = Instant::now();
    let back = loop {
        let r = svc.get(q);
        if r.status == 200 || t0.elapsed() > Duration::from_secs(30) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        back.expect(200, None).json()["matches"][1]["manifestId"],
        id.as_str()
    );
    svc.get("/healthz").expect(200, None);
    drop(svc);
    ctl("stop");
    let _ = std::fs::remove_dir_all(&pg_dir);
}

/// Schemathesis (from PyPI; `.ci/run` installs it) generates requests from
/// the service's own `/openapi.json`, valid and invalid, for every route:
/// no answer may be a 5xx, and every answer's status, content type,
/// headers and body must be what the document says.
#[test]
fn schemathesis_finds_no_server_error_and_nothing_undocumented() {
    let Ok(st) = std::env::var("EARMARK_SCHEMATHESIS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "EARMARK_SCHEMATHESIS is not set (.ci/run installs schemathesis)"
        );
        eprintln!("skipping: EARMARK_SCHEMATHESIS not set");
        return;
    };
    for t in TestCatalogue::both() {
        schemathesis_on(&st, &t);
    }
}

/// One Schemathesis run against a service over the catalogue `t`.
fn schemathesis_on(st: &str, t: &TestCatalogue) {
    let b = t.backend();
    let st_data = stamped_catalogue(t);
    let tokens = st_data.dir.path().join("w.tokens");
    let token = "w-schemathesis-0123456789";
    std::fs::write(&tokens, format!("{token}\n")).unwrap();
    let svc = Service::start(
        &t.location,
        &[
            "--write-token-file",
            s(&tokens),
            "--max-upload",
            "8M",
            "--request-timeout",
            "30",
            "--quiet",
        ],
    );
    let report = st_data.dir.path().join("st");
    let out = Command::new(st)
        .args([
            "run",
            &format!("http://{}/openapi.json", svc.addr),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "30",
            "--seed",
            "20261207",
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--report-dir",
            s(&report),
        ])
        // Its own cache folder goes there too, not into the checkout.
        .current_dir(st_data.dir.path())
        .env("NO_COLOR", "1")
        .env("PYTHONPATH", Path::new(ROOT).join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "earmark_hooks")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{b}: schemathesis failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation was selected and tested (none skipped as untestable).
    let number_after = |label: &str| -> String {
        let at = text
            .find(label)
            .unwrap_or_else(|| panic!("no {label:?} in\n{text}"));
        text[at + label.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let selected = number_after("Selected:");
    let (chosen, all) = selected.split_once('/').unwrap();
    assert_eq!(chosen, all, "{text}");
    assert_eq!(number_after("Tested:"), chosen, "{text}");
    assert!(chosen.parse::<u32>().unwrap() >= 9, "{text}");
    drop(svc);
}

/// The manifest store the service returns for a C2PA id is the one in the
/// stamped file: the C2PA SDK's own reader (c2pa-python, as in
/// tests/c2pa.rs) finds the same manifest, signer and assertions (the soft
/// binding to the marker among them) in both.
#[test]
fn a_served_c2pa_store_is_the_stamped_files_manifest() {
    let py = std::env::var_os("EARMARK_C2PA_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let p = PathBuf::from(std::env::var_os("HOME")?)
                .join(".cache/earmark/c2pa-venv/bin/python");
            p.is_file().then_some(p)
        });
    let Some(py) = py else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no c2pa-python (.ci/run installs it)"
        );
        eprintln!("skipping: no c2pa-python");
        return;
    };
    let t = TestCatalogue::sqlite();
    let st = stamped_catalogue(&t);
    let rock = st
        .entries
        .iter()
        .find(|e| e.source_path == st.source)
        .unwrap();
    let c2pa_id = rock.c2pa_manifest_id.clone().unwrap();
    let svc = Service::start(&t.location, &["--quiet"]);
    let r = svc.get(&format!("/manifests/{}", url_escape(&c2pa_id)));
    r.expect(200, None);
    let store = st.dir.path().join("served.c2pa");
    std::fs::write(&store, &r.body).unwrap();
    let read = |args: &[&std::ffi::OsStr]| -> Value {
        let out = Command::new(&py)
            .arg(Path::new(ROOT).join("tests/c2pa/read.py"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // The stamped file, as the SDK reads it: valid (apart from trust).
    let file = read(&[rock.output_path.as_ref()]);
    assert_eq!(file["state"], "Valid", "{file}");
    // The served store on its own: the same manifest, with the same
    // signature and assertions (only the hard binding, which needs the
    // audio, cannot be checked without the file).
    let served = read(&["--store".as_ref(), store.as_os_str()]);
    assert_eq!(served["label"], file["label"], "{served}");
    assert_eq!(served["label"], c2pa_id.as_str());
    assert_eq!(served["assertions"], file["assertions"], "{served}");
    assert_eq!(served["signer"], file["signer"], "{served}");
    let binding = &served["assertions"]["c2pa.soft-binding"];
    assert_eq!(binding["alg"], "io.earmark.v1", "{served}");
    assert_eq!(
        binding["blocks"][0]["value"],
        format!("{}{:08x}", rock.key_fingerprint, rock.track_id),
        "{served}"
    );
    let failures: Vec<&str> = served["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    eprintln!(
        "c2pa-python on the served store alone: {} {failures:?}",
        served["state"]
    );
    assert!(
        failures
            .iter()
            .all(|f| f.starts_with("assertion.dataHash") || *f == "signingCredential.untrusted"),
        "only the hard binding may fail without the audio: {served}"
    );
}

/// Two replicas on one PostgreSQL catalogue, as behind a load balancer: a
/// row published through one is resolved by the other at once, and both
/// answer while a stamping shard writes into the same database.
#[test]
fn two_replicas_share_one_postgres_catalogue() {
    let Some(t) = TestCatalogue::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rows = signed_rows(dir.path());
    let token = "w-replicas-0123456789abcdef";
    let tokens = dir.path().join("w.tokens");
    std::fs::write(&tokens, format!("{token}\n")).unwrap();
    let a = Service::start(&t.location, &["--write-token-file", s(&tokens), "--quiet"]);
    let b = Service::start(&t.location, &["--quiet"]);
    publish_to(&a, token, &rows[0].to_string()).expect(200, None);
    let q = |r: &Value| {
        format!(
            "/matches/byBinding?alg=io.earmark.v1&value={}:{}",
            r["key_fingerprint"].as_str().unwrap(),
            r["track_id"]
        )
    };
    let found = b.get(&q(&rows[0])).expect(200, None).json();
    assert_eq!(
        found["matches"][0]["manifestId"],
        rows[0]["c2pa_manifest_id"]
    );
    // A stamping run writes into the same catalogue while both serve.
    let (key, _, _) = keygen(dir.path(), "label");
    let lib = dir.path().join("lib");
    two_track_library(&lib, 4.0);
    earmark([
        "stamp",
        s(&lib),
        "--key",
        s(&key),
        "--out-dir",
        s(&dir.path().join("out")),
        "--catalogue",
        &t.location,
        "--quiet",
    ])
    .expect_code(0);
    let stamped = t.open().entries().unwrap();
    assert_eq!(stamped.len(), 3);
    for e in &stamped {
        let id = format!("urn:earmark:{}:{}", e.key_fingerprint, e.track_id);
        for replica in [&a, &b] {
            let r = replica.get(&format!("/manifests/{}", url_escape(&id)));
            assert_eq!(r.expect(200, None).text(), e.manifest);
        }
    }
}
