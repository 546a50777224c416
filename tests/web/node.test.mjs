// The WebAssembly package from JavaScript outside the browser (Node.js):
// verify returns the CLI's --json record, stamp the CLI's bytes.
// Run by scripts/test-web.sh (EARMARK_BIN: the earmark binary to compare with).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import init, { verify, stamp, keygen, fingerprint, mayHoldCredentials, readsCredentials } from "../../web/pkg/earmark.js";

const root = new URL("../../", import.meta.url);
const file = (p) => readFileSync(new URL(p, root));
await init({ module_or_path: file("web/pkg/earmark_bg.wasm") });

const ROCK = "test-audio/rock-openarena-oa02.ogg";
const PIANO = "test-audio/piano-supertuxkart-alien-signal.ogg";
const CREATED = 1767225600; // 2026-01-01T00:00:00Z
const cli = process.env.EARMARK_BIN;
const scratch = mkdtempSync(join(tmpdir(), "earmark-web-"));

test("a key made here stamps a track that verifies, trusted", () => {
  const k = keygen();
  assert.match(k.private_pem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(fingerprint(k.public_pem), k.fingerprint);
  const seen = [];
  const s = stamp(file(ROCK), k.private_pem, { created: CREATED, trackId: 4242, name: "rock.ogg", onProgress: (f) => seen.push(f) });
  assert.deepEqual(s.record.payload, { key_fingerprint: k.fingerprint, track_id: 4242 });
  assert.equal(s.manifest.manifest.payload.track_id, 4242);
  assert.equal(s.manifest.manifest.created, "2026-01-01T00:00:00Z");
  // Progress: fractions that climb to the whole file.
  assert.ok(seen.length >= 10, `only ${seen.length} progress reports`);
  assert.ok(seen.every((f, i) => f > 0 && f <= 1 && (i === 0 || f >= seen[i - 1])), "progress climbs");
  assert.equal(seen.at(-1), 1);
  const v = verify(s.bytes, { trust: k.public_pem, name: "rock.earmark.flac" });
  assert.equal(v.schema_version, 1);
  assert.equal(v.command, "verify");
  assert.equal(v.status, "ok");
  assert.equal(v.verdict, "MARKED");
  assert.equal(v.manifest.trusted, true);
  assert.equal(v.manifest.audio_identical, true);
  assert.equal(v.path, "rock.earmark.flac");
});

test("unmarked audio has no marker; junk is an error naming the file", () => {
  const v = verify(file(PIANO), { name: "piano.ogg" });
  assert.equal(v.status, "no-marker");
  assert.equal(v.verdict, "NO MARKER FOUND");
  assert.throws(() => verify(file("test-audio/formats/not-audio.mp3"), { name: "notes.mp3" }),
    /^Error: notes\.mp3: not a recognised audio format/);
});

// Byte-for-byte: the engine's arithmetic is platform-independent (scalar FFT
// plans, the portable libm), so the same input, key, track id and time give
// the same file from WebAssembly as from the native CLI. Inputs whose
// decoders give the same samples everywhere (Vorbis at 44.1 and 48 kHz).
for (const [input, trackId] of [[ROCK, 77], ["test-audio/electronic-neverball-title-48k.ogg", 78]]) {
  test(`stamp gives the CLI's bytes for ${input}`, { skip: !cli && "EARMARK_BIN not set" }, () => {
    const k = keygen();
    const key = join(scratch, "artist.pem");
    writeFileSync(key, k.private_pem);
    const ours = stamp(file(input), k.private_pem, { created: CREATED, trackId });
    const out = join(scratch, `cli-${trackId}.flac`);
    execFileSync(cli, ["stamp", new URL(input, root).pathname, "--key", key, "--out", out,
      "--track-id", String(trackId), "--no-c2pa", "--quiet"], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(CREATED), EARMARK_REGISTRY: join(scratch, "ids.db") },
    });
    assert.ok(Buffer.from(ours.bytes).equals(readFileSync(out)), "the page's FLAC differs from the CLI's");
    assert.equal(ours.sidecar, readFileSync(`${out}.earmark.json`, "utf8"));
    // And verify's record is the CLI's, field for field.
    const theirs = JSON.parse(execFileSync(cli, ["verify", "--json", out], { encoding: "utf8" }));
    const mine = verify(readFileSync(out), { name: out });
    for (const k of ["markers", "status", "verdict", "seconds", "manifest", "seal", "audio_sha256"]) {
      assert.deepEqual(mine[k], theirs[k], k);
    }
  });
}

// Content Credentials: pkg-c2pa, the build with the C2PA SDK that the page
// loads for files carrying a manifest store, reads them as the CLI does.
const withCredentials = await import("../../web/pkg-c2pa/earmark.js");
await withCredentials.default({ module_or_path: file("web/pkg-c2pa/earmark_bg.wasm") });

test("Content Credentials: found where they are, read as the CLI reads them", { skip: !cli && "EARMARK_BIN not set" }, () => {
  const k = keygen();
  const key = join(scratch, "c2pa-artist.pem");
  writeFileSync(key, k.private_pem);
  const pubKey = join(scratch, "c2pa-artist.pub.pem");
  writeFileSync(pubKey, k.public_pem);
  const signed = join(scratch, "with-credentials.flac");
  execFileSync(cli, ["stamp", new URL(ROCK, root).pathname, "--key", key, "--out", signed,
    "--title", "Oa02", "--quiet"], { env: { ...process.env, EARMARK_REGISTRY: join(scratch, "ids.db") } });
  const bytes = readFileSync(signed);
  assert.equal(mayHoldCredentials(bytes), true);
  assert.equal(mayHoldCredentials(file(PIANO)), false);
  assert.equal(withCredentials.readsCredentials(), true);
  assert.equal(readsCredentials(), false);

  // Intact, then with its LICENSE comment edited after signing (same
  // length: the file still decodes, but the C2PA hard binding breaks).
  const altered = join(scratch, "altered.flac");
  const at = bytes.indexOf("LICENSE=AI/ML training prohibited");
  assert.ok(at > 0, "no LICENSE comment");
  const edited = Buffer.from(bytes);
  edited.write("LICENSE=AI/ML training PERMITTED!", at);
  writeFileSync(altered, edited);
  for (const path of [signed, altered]) {
    const cliRun = spawnSync(cli, ["verify", "--json", path, "--trust", pubKey], { encoding: "utf8" });
    const theirs = JSON.parse(cliRun.stdout);
    const mine = withCredentials.verify(readFileSync(path), { trust: k.public_pem, name: path });
    assert.ok(theirs.credentials, `the CLI found no credentials in ${path}`);
    for (const f of ["credentials", "credentials_error", "status", "exit_code", "verdict", "markers", "seal"]) {
      assert.deepEqual(mine[f], theirs[f], `${f} of ${path}`);
    }
  }
  const intact = withCredentials.verify(bytes, { trust: k.public_pem });
  assert.equal(intact.status, "ok");
  assert.equal(intact.credentials.matches_marker, true);
  assert.equal(intact.credentials.training_mining["cawg.ai_training"], "notAllowed");
  assert.equal(withCredentials.verify(readFileSync(altered), {}).status, "invalid");

  // The build without the SDK says nothing of them, unless told why it could not read them.
  const lite = verify(bytes, { trust: k.public_pem });
  assert.equal(lite.credentials, undefined);
  assert.equal(lite.status, "ok");
  const told = verify(bytes, { credentialsError: "C2PA: the manifest store could not be parsed" });
  assert.equal(told.status, "invalid");
  assert.equal(told.credentials_error, "C2PA: the manifest store could not be parsed");
  assert.throws(() => withCredentials.verify(bytes, { c2paTrust: "not a certificate" }), /^Error: options\.c2paTrust: no CERTIFICATE block found/);
});
