// The page in Debian's Chromium, driven by playwright-core: stamp a real
// track, download it, verify it in the page and with the CLI; a 5 s MP3
// clip; an unmarked file; a non-audio file; a key made in the page used by
// the CLI; and not one request to another origin.
// Run by scripts/test-web.sh (EARMARK_BIN: the earmark binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPage, root, run as runIn } from "./page.mjs";

const web = join(root, "web");
const ROCK = join(root, "test-audio/rock-openarena-oa02.ogg");
const PIANO = join(root, "test-audio/piano-supertuxkart-alien-signal.ogg");
const NOT_AUDIO = join(root, "test-audio/formats/not-audio.mp3");
const cli = process.env.EARMARK_BIN || "earmark";
const shots = process.env.EARMARK_SCREENSHOTS;
const scratch = mkdtempSync(join(tmpdir(), "earmark-page-"));
const env = { ...process.env, EARMARK_REGISTRY: join(scratch, "ids.db") };

let session, page, foreign;

before(async () => {
  session = await openPage();
  ({ page, foreign } = session);
});

after(async () => {
  await session?.close();
});

const run = (input, results, files) => runIn(page, input, results, files);

let key, pub, stamped;

test("a key made in the page downloads as the CLI's PEM files", async () => {
  await page.click("#tab-stamp");
  const downloads = [];
  page.on("download", (d) => downloads.push(d));
  await page.click("#key-new");
  await page.waitForFunction(() => !document.getElementById("stamp-files").disabled);
  await page.waitForTimeout(500);
  assert.equal(downloads.length, 2);
  key = join(scratch, "artist.pem");
  pub = join(scratch, "artist.pub.pem");
  for (const d of downloads) await d.saveAs(d.suggestedFilename() === "artist.pem" ? key : pub);
  assert.match(readFileSync(key, "utf8"), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(readFileSync(pub, "utf8"), /^-----BEGIN PUBLIC KEY-----/);
});

test("stamp a real track in the page; the CLI verifies the download", async () => {
  await page.fill("#title", "Oa02");
  await page.fill("#artist", "OpenArena");
  // Every value the progress bar shows, as it shows it.
  await page.evaluate(() => {
    window.seenProgress = [];
    new MutationObserver((changes) => {
      for (const c of changes) window.seenProgress.push(Number(c.target.getAttribute("aria-valuenow")));
    }).observe(document.getElementById("stamp-results"),
      { subtree: true, attributes: true, attributeFilter: ["aria-valuenow"] });
  });
  const card = await run("stamp-files", "stamp-results", [ROCK]);
  const seen = await page.evaluate(() => window.seenProgress);
  assert.ok(seen.some((p) => p > 0 && p < 100), `the bar showed no progress in between: ${seen}`);
  assert.ok(seen.every((p, i) => i === 0 || p >= seen[i - 1]), `the bar went back: ${seen}`);
  assert.equal(Math.max(...seen), 100);
  assert.match(await card.locator(".verdict").textContent(), /^STAMPED [0-9a-f]{8}:\d+$/);
  if (shots) await page.screenshot({ path: join(shots, "stamp.png"), fullPage: true });
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    card.locator("a", { hasText: ".earmark.flac" }).click(),
  ]);
  stamped = join(scratch, download.suggestedFilename());
  await download.saveAs(stamped);
  assert.equal(download.suggestedFilename(), "rock-openarena-oa02.earmark.flac");
  const out = spawnSync(cli, ["verify", "--json", stamped, "--trust", pub], { env, encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const v = JSON.parse(out.stdout);
  assert.equal(v.manifest.trusted, true);
  assert.equal(v.manifest.document.manifest.title, "Oa02");
  const payload = (await card.locator(".verdict").textContent()).replace("STAMPED ", "");
  assert.equal(`${v.markers[0].payload.key_fingerprint}:${v.markers[0].payload.track_id}`, payload);
});

test("the CLI stamps with the key made in the page", () => {
  const out = join(scratch, "by-cli.flac");
  execFileSync(cli, ["stamp", PIANO, "--key", key, "--out", out, "--no-c2pa"], { env });
  const v = JSON.parse(execFileSync(cli, ["verify", "--json", out, "--trust", pub], { env, encoding: "utf8" }));
  assert.equal(v.status, "ok");
});

test("verify in the page: the stamped file, a 5 s MP3 clip, unmarked audio, junk", async () => {
  await page.click("#tab-verify");
  await page.click(".trust summary");
  await page.fill("#trust-pem", readFileSync(pub, "utf8"));
  await page.dispatchEvent("#trust-pem", "input");
  let card = await run("verify-files", "verify-results", [stamped]);
  assert.equal(await card.locator(".verdict").textContent(), "MARKED");
  assert.match(await card.textContent(), /valid signature, trusted signer/);

  const clip = join(scratch, "clip.mp3");
  execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-ss", "8", "-t", "5", "-i", stamped,
    "-map_metadata", "-1", "-c:a", "libmp3lame", "-b:a", "128k", clip]);
  card = await run("verify-files", "verify-results", [clip]);
  assert.equal(await card.locator(".verdict").textContent(), "MARKED");

  card = await run("verify-files", "verify-results", [PIANO]);
  assert.equal(await card.locator(".verdict").textContent(), "NO MARKER FOUND");

  card = await run("verify-files", "verify-results", [NOT_AUDIO]);
  assert.equal(await card.locator(".verdict").textContent(),
    "not-audio.mp3: not a recognised audio format");
  // The page still works after an error.
  card = await run("verify-files", "verify-results", [stamped]);
  assert.equal(await card.locator(".verdict").textContent(), "MARKED");
});

test("Content Credentials: read in the page as the CLI reads them", async () => {
  // The page's own stamp has none (it writes the CLI's --no-c2pa bytes).
  let card = await run("verify-files", "verify-results", [stamped]);
  assert.match(await card.textContent(), /c2pa\s*no Content Credentials/);
  // The CLI's default stamp carries them: the page starts its C2PA build,
  // whose bytes it fetched when it loaded: this works offline.
  const signed = join(scratch, "cli-with-credentials.flac");
  execFileSync(cli, ["stamp", PIANO, "--key", key, "--out", signed, "--quiet"], { env });
  await page.context().setOffline(true);
  try {
    card = await run("verify-files", "verify-results", [signed]);
  } finally {
    await page.context().setOffline(false);
  }
  assert.equal(await card.locator(".verdict").textContent(), "MARKED");
  const text = await card.textContent();
  const record = JSON.parse(execFileSync(cli, ["verify", "--json", signed, "--trust", pub], { env, encoding: "utf8" }));
  const c = record.credentials;
  assert.match(text, new RegExp(`c2pa\\s*valid signature, issuer not on a trust list; signed by ${c.signer_name}`));
  assert.match(text, /AI policy\s*ai_generative_training notAllowed/);
  const p = record.markers[0].payload;
  assert.match(text, new RegExp(`binds\\s*marker ${p.key_fingerprint}:${p.track_id}: the audio carries it`));
  if (shots) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, "verify.png"), fullPage: true });
  }
});

test("the page made no request to any other origin; the .wasm is within 3 MB", () => {
  assert.deepEqual(foreign, []);
  const size = statSync(join(web, "pkg/earmark_bg.wasm")).size;
  assert.ok(size > 0 && size <= 3_000_000, `the .wasm is ${size} bytes; the page's budget is 3 MB`);
});
