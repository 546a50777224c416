// Speed of the page in headless Chromium on this machine: verify a 3-minute
// MP3 (unmarked, then marked), a FLAC with Content Credentials, and stamp a
// 3-minute track to FLAC, each through the page's Web
// Worker as a user does (file read, transfer, engine, result). Best and
// median of 5 runs each. Run: scripts/test-web.sh --bench
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPage, root, run } from "./page.mjs";

const scratch = mkdtempSync(join(tmpdir(), "earmark-bench-"));
const ff = (...a) => execFileSync("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...a]);
const source = join(root, "test-audio/rock-openarena-oa02.ogg");
const wav = join(scratch, "three-minutes.wav");
const mp3 = join(scratch, "three-minutes.mp3");
ff("-stream_loop", "7", "-i", source, "-t", "180", "-c:a", "pcm_s16le", wav);
ff("-i", wav, "-c:a", "libmp3lame", "-b:a", "192k", mp3);
// The same track stamped by the CLI with Content Credentials (the page reads
// them with its second, C2PA build, instantiated on the first such file).
const cli = process.env.EARMARK_BIN || "earmark";
const env = { ...process.env, EARMARK_REGISTRY: join(scratch, "ids.db") };
execFileSync(cli, ["keygen", "--out", join(scratch, "bench.pem")], { env });
const signed = join(scratch, "three-minutes-c2pa.flac");
execFileSync(cli, ["stamp", wav, "--key", join(scratch, "bench.pem"), "--out", signed, "--quiet"], { env });
// And a marked MP3 (from the stamped track): the marker is found at once,
// no speed, tempo or pitch search.
const markedMp3 = join(scratch, "three-minutes-marked.mp3");
ff("-i", signed, "-map_metadata", "-1", "-c:a", "libmp3lame", "-b:a", "192k", markedMp3);

const { page, foreign, close } = await openPage();
const seconds = async (card) => Number((await card.locator(".hint").last().textContent()).match(/([\d.]+) s/)[1]);
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `best ${s[0].toFixed(2)} s, median ${s[Math.floor(s.length / 2)].toFixed(2)} s`;
};
const verify = [];
const stamp = [];
const credentials = [];
const marked = [];
await page.click("#tab-stamp");
await page.click("#key-new");
await page.waitForFunction(() => !document.getElementById("stamp-files").disabled);
for (let i = 0; i < 5; i++) {
  await page.click("#tab-verify");
  verify.push(await seconds(await run(page, "verify-files", "verify-results", [mp3])));
  await page.click("#tab-stamp");
  stamp.push(await seconds(await run(page, "stamp-files", "stamp-results", [wav])));
  await page.click("#tab-verify");
  credentials.push(await seconds(await run(page, "verify-files", "verify-results", [signed])));
  marked.push(await seconds(await run(page, "verify-files", "verify-results", [markedMp3])));
}
await close();
console.log(`verify 3-min MP3 (192 kbit/s): ${stats(verify)}  [target <= 2 s]  (unmarked: the speed/tempo/pitch search runs)`);
console.log(`verify 3-min marked MP3:       ${stats(marked)}`);
console.log(`stamp 3-min WAV -> FLAC:        ${stats(stamp)}  [target <= 6 s]`);
console.log(`verify 3-min FLAC with C2PA:    ${stats(credentials)}  (first, loading the C2PA build: ${credentials[0].toFixed(2)} s)`);
console.log(`requests to other origins: ${foreign.length}`);
