// Serves web/ on a loopback port and opens it in Debian's Chromium
// (playwright-core, never a downloaded browser); shared by the page's tests
// and its benchmark. Requests to any other origin are collected.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

export const root = new URL("../../", import.meta.url).pathname;
const web = join(root, "web");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css",
  ".wasm": "application/wasm", ".json": "application/json" };

export async function openPage() {
  const server = createServer((req, res) => {
    const path = normalize(join(web, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    const file = path.endsWith("/") ? join(path, "index.html") : path;
    if (!file.startsWith(web)) return res.writeHead(403).end();
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const foreign = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("blob:") && !u.startsWith("data:")) foreign.push(u);
  });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => document.getElementById("version").textContent.length > 0);
  return {
    page,
    foreign,
    async close() {
      await browser.close();
      server.close();
    },
  };
}

/** Sets files on an input and waits until that many more result cards are finished. */
export async function run(page, input, results, files) {
  const sel = `#${results} .card:not(.busy)`;
  const before = await page.locator(sel).count();
  await page.setInputFiles(`#${input}`, files);
  await page.waitForFunction(([s, n]) => document.querySelectorAll(s).length >= n,
    [sel, before + files.length], { timeout: 300_000 });
  return page.locator(`#${results} .card`).first();
}
