//! Interoperability of keys and signatures with the `openssl` command-line tool (OpenSSL 3).
//!
//! These tests need `openssl` on `PATH` and fail, rather than skip, without it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use earmark::provenance::{
    read_public_key, read_signing_key, write_private_key_pem, write_public_key_pem, AudioDigest,
    KeyErrorKind, Manifest, SigningKeyPair,
};
use earmark::{Payload, Policy};

/// Runs `openssl` with `args`, panicking with a clear message if it cannot be started.
fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `openssl` ({e}): these tests need the OpenSSL 3 command-line tool on \
             PATH (Debian/Ubuntu: apt-get install openssl)"
            )
        })
}

/// Runs `openssl` and returns its standard output, panicking if it fails.
fn openssl_ok(args: &[&str]) -> Vec<u8> {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn openssl_reads_our_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let private = dir.path().join("k.pem");
    let public = dir.path().join("k.pub.pem");
    let key = SigningKeyPair::generate();
    write_private_key_pem(&private, &key, false).expect("write private key");
    write_public_key_pem(&public, &key.public_key(), false).expect("write public key");

    openssl_ok(&["pkey", "-in", path_str(&private), "-noout"]);
    let pubout = openssl_ok(&["pkey", "-in", path_str(&private), "-pubout"]);
    assert_eq!(
        String::from_utf8_lossy(&pubout),
        fs::read_to_string(&public).expect("read public key")
    );
    // OpenSSL re-encodes our private key to the very same bytes.
    let reencoded = openssl_ok(&["pkey", "-in", path_str(&private)]);
    assert_eq!(
        String::from_utf8_lossy(&reencoded),
        fs::read_to_string(&private).expect("read private key")
    );
    // And it reads our public key file.
    openssl_ok(&["pkey", "-pubin", "-in", path_str(&public), "-noout"]);
}

#[test]
fn we_read_openssl_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let private = dir.path().join("k.pem");
    let public = dir.path().join("k.pub.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        path_str(&private),
    ]);
    openssl_ok(&[
        "pkey",
        "-in",
        path_str(&private),
        "-pubout",
        "-out",
        path_str(&public),
    ]);

    let key = read_signing_key(&private).expect("read openssl private key");
    let from_pub = read_public_key(&public).expect("read openssl public key");
    let from_private = read_public_key(&private).expect("derive public key from private key");
    assert_eq!(key.public_key(), from_pub);
    assert_eq!(from_private, from_pub);
    assert_eq!(key.public_key().fingerprint32(), from_pub.fingerprint32());
    assert_eq!(
        key.public_key().fingerprint_hex(),
        from_pub.fingerprint_hex()
    );
    // Our encodings are byte-identical to OpenSSL's.
    assert_eq!(
        from_pub.to_pem(),
        fs::read_to_string(&public).expect("read")
    );
    assert_eq!(key.to_pem(), fs::read_to_string(&private).expect("read"));
}

#[test]
fn wrong_openssl_keys_are_rejected_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x25519 = dir.path().join("x.pem");
    openssl_ok(&["genpkey", "-algorithm", "x25519", "-out", path_str(&x25519)]);
    let err = read_signing_key(&x25519).expect_err("x25519 is not a signing key");
    assert!(matches!(err.kind(), KeyErrorKind::UnsupportedAlgorithm));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: unsupported key algorithm (expected Ed25519)",
            x25519.display()
        )
    );

    let encrypted = dir.path().join("enc.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-aes-128-cbc",
        "-pass",
        "pass:secret",
        "-out",
        path_str(&encrypted),
    ]);
    let err = read_signing_key(&encrypted).expect_err("encrypted");
    assert!(matches!(err.kind(), KeyErrorKind::Encrypted), "{err}");
}

#[test]
fn signatures_interoperate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let msg = dir.path().join("msg.bin");
    let sig = dir.path().join("msg.sig");
    let message = b"earmark interop \x00\xff test message";
    fs::write(&msg, message).expect("write message");

    // OpenSSL signs, we verify.
    let private = dir.path().join("openssl.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        path_str(&private),
    ]);
    openssl_ok(&[
        "pkeyutl",
        "-sign",
        "-rawin",
        "-inkey",
        path_str(&private),
        "-in",
        path_str(&msg),
        "-out",
        path_str(&sig),
    ]);
    let signature = fs::read(&sig).expect("read signature");
    assert_eq!(signature.len(), 64);
    let public = read_public_key(&private).expect("read key");
    assert!(public.verify(message, &signature));
    assert!(!public.verify(b"another message", &signature));
    // Ed25519 is deterministic: we produce the very same signature with that key.
    let key = read_signing_key(&private).expect("read key");
    assert_eq!(key.sign(message).as_slice(), signature.as_slice());

    // We sign, OpenSSL verifies.
    let ours = SigningKeyPair::generate();
    let ours_pub = dir.path().join("ours.pub.pem");
    write_public_key_pem(&ours_pub, &ours.public_key(), false).expect("write public key");
    fs::write(&sig, ours.sign(message)).expect("write signature");
    let verify = |message_path: &Path| {
        openssl(&[
            "pkeyutl",
            "-verify",
            "-rawin",
            "-pubin",
            "-inkey",
            path_str(&ours_pub),
            "-in",
            path_str(message_path),
            "-sigfile",
            path_str(&sig),
        ])
    };
    let out = verify(&msg);
    assert!(
        out.status.success(),
        "openssl rejected our signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = dir.path().join("other.bin");
    fs::write(&other, b"another message").expect("write");
    assert!(
        !verify(&other).status.success(),
        "openssl accepted a bad signature"
    );

    // A manifest signature is plain Ed25519 over the documented message.
    let payload = Payload::new(ours.public_key().fingerprint32(), 7);
    let audio = AudioDigest::new("00".repeat(32), 1, 48_000, 1, "f32");
    let signed = Manifest::new(payload, audio, Policy::default()).sign(&ours);
    fs::write(&msg, signed.manifest.signing_message()).expect("write message");
    fs::write(&sig, hex_decode(&signed.signature)).expect("write signature");
    let out = verify(&msg);
    assert!(
        out.status.success(),
        "openssl rejected a manifest signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn key_files_are_private_and_not_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).expect("stat").permissions().mode() & 0o777;

    let dir = tempfile::tempdir().expect("tempdir");
    let private = dir.path().join("artist.pem");
    let first = SigningKeyPair::generate();
    write_private_key_pem(&private, &first, false).expect("write");
    assert_eq!(mode(&private), 0o600);
    openssl_ok(&["pkey", "-in", path_str(&private), "-noout"]);

    // Refuses to overwrite without force, and leaves the file alone.
    let second = SigningKeyPair::generate();
    let err = write_private_key_pem(&private, &second, false).expect_err("exists");
    assert!(matches!(err.kind(), KeyErrorKind::Exists));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: file exists (use --force to overwrite)",
            private.display()
        )
    );
    assert_eq!(
        read_signing_key(&private).expect("read").public_key(),
        first.public_key()
    );

    // Force overwrites, and the result is 0600 even if the old file was world-readable.
    fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).expect("chmod");
    write_private_key_pem(&private, &second, true).expect("forced write");
    assert_eq!(mode(&private), 0o600);
    assert_eq!(
        read_signing_key(&private).expect("read").public_key(),
        second.public_key()
    );

    // Public keys: readable, not writable by others; same overwrite rules.
    let public = dir.path().join("artist.pub.pem");
    write_public_key_pem(&public, &second.public_key(), false).expect("write");
    assert_eq!(mode(&public) & 0o622, 0o600);
    assert!(write_public_key_pem(&public, &first.public_key(), false).is_err());
    write_public_key_pem(&public, &first.public_key(), true).expect("forced write");
    assert_eq!(read_public_key(&public).expect("read"), first.public_key());

    // No temporary files are left behind.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["artist.pem", "artist.pub.pem"]);
}
