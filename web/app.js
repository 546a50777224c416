// The page: file drops, keys, and the results the engine (in worker.js) gives.
// Thin on purpose: every verdict and every stamped byte comes from the engine.

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const pending = new Map();
let nextId = 1;
worker.onmessage = ({ data }) => {
  const p = pending.get(data.id);
  if (!p) return;
  if (data.progress !== undefined) {
    if (p.onProgress) p.onProgress(data.progress);
    return;
  }
  pending.delete(data.id);
  data.ok ? p.resolve(data.result) : p.reject(new Error(data.error));
};
function call(op, args = {}, transfer = [], onProgress = null) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, op, args }, transfer);
  });
}

const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ---- tabs
function show(view) {
  for (const v of ["verify", "stamp"]) {
    $(`view-${v}`).hidden = v !== view;
    $(`tab-${v}`).setAttribute("aria-selected", String(v === view));
  }
}
$("tab-verify").onclick = () => show("verify");
$("tab-stamp").onclick = () => show("stamp");
call("version").then((v) => ($("version").textContent = v.replace(/^earmark /, "")));

// ---- a card per file, with a progress bar while the engine works: how far
// through the file the engine has read (it reports each percent).
function card(container, name, what) {
  const fill = el("div");
  const bar = el("div", { class: "progress", role: "progressbar", "aria-label": `${what} ${name}`,
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, fill);
  const status = el("p", { class: "working", text: `${what}…` });
  const c = el("article", { class: "card busy" }, el("h3", { text: name }), bar, status);
  container.prepend(c);
  const started = performance.now();
  let percent = 0;
  const show = () => {
    const s = ((performance.now() - started) / 1000).toFixed(0);
    status.textContent = `${what}… ${percent}% (${s} s)`;
  };
  const tick = setInterval(show, 500);
  return {
    element: c,
    progress(fraction) {
      percent = Math.round(100 * fraction);
      fill.style.width = `${percent}%`;
      bar.setAttribute("aria-valuenow", String(percent));
      show();
    },
    done() {
      clearInterval(tick);
      c.classList.remove("busy");
      bar.remove();
      status.remove();
      return (performance.now() - started) / 1000;
    },
    fail(message) {
      this.done();
      c.classList.add("error");
      c.append(el("p", { class: "verdict", text: message }));
    },
  };
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// ---- verify
const TRUST_KEY = "earmark.trusted-keys";
$("trust-pem").value = localStorage.getItem(TRUST_KEY) || "";
// The trusted PEM blocks: public keys for the seal and the manifest,
// root certificates for Content Credentials (as --trust and --c2pa-trust).
function trusted() {
  const blocks = $("trust-pem").value.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) || [];
  const certs = blocks.filter((b) => b.startsWith("-----BEGIN CERTIFICATE-----"));
  return { keys: blocks.filter((b) => !certs.includes(b)), certs };
}
async function trustChanged() {
  const text = $("trust-pem").value;
  localStorage.setItem(TRUST_KEY, text);
  const { keys: blocks, certs } = trusted();
  const roots = certs.length ? `; ${plural(certs.length, "root certificate", "root certificates")} for Content Credentials` : "";
  if (blocks.length === 0) {
    $("trust-count").textContent = "none";
    $("trust-status").textContent = certs.length ? `remembered in this browser${roots}` : "";
    return;
  }
  try {
    const fps = await Promise.all(blocks.map((pem) => call("fingerprint", { pem })));
    $("trust-count").textContent = fps.join(", ");
    $("trust-status").textContent = `${plural(fps.length, "key", "keys")} remembered in this browser${roots}`;
  } catch (e) {
    $("trust-count").textContent = "unreadable";
    $("trust-status").textContent = e.message;
  }
}
$("trust-pem").addEventListener("input", trustChanged);
$("trust-files").addEventListener("change", async (ev) => {
  for (const f of ev.target.files) $("trust-pem").value += (await f.text()).trim() + "\n";
  ev.target.value = "";
  trustChanged();
});
$("trust-clear").onclick = () => {
  $("trust-pem").value = "";
  trustChanged();
};
trustChanged();

const STATUS_CLASS = { ok: "ok", "no-marker": "none", invalid: "bad", untrusted: "warn" };

function timeline(v) {
  const starts = (v.markers[0] && v.markers[0].unit_starts) || [];
  const track = el("div", { class: "timeline", title: "where in the file the marker was found" });
  for (const t of starts) {
    const left = Math.min(100, (100 * t) / Math.max(v.seconds, 0.001));
    // Set through the CSSOM: the page's CSP refuses inline style attributes.
    const tick = el("span");
    tick.style.left = `${left.toFixed(2)}%`;
    track.append(tick);
  }
  return el("div", { class: "line" }, el("span", { class: "label", text: "found at" }), track,
    el("span", { class: "hint", text: starts.length ? `${plural(starts.length, "place", "places")} in ${v.seconds.toFixed(1)} s` : "by combining the whole file" }));
}

function line(label, text) {
  return el("div", { class: "line" }, el("span", { class: "label", text: label }), el("span", { text }));
}

function sealText(s, missing) {
  if (!s) return missing ? `none: ${missing}` : null;
  const trust = s.trusted === true ? ", signer trusted" : s.trusted === false ? ", signer NOT among your trusted keys" : "";
  if (s.status === "valid") return `signed by key ${s.signer}, signature valid${trust} (policy ${s.policy}; read from the audio itself)`;
  if (s.status === "invalid") return `INVALID: the audio carries a signature that key ${s.signer} did not make`;
  return `signed by key ${s.signer} (policy ${s.policy}); add its public key to your trusted keys to check the signature`;
}

// The Content Credentials lines, worded as `earmark verify` prints them.
function credentialsLines(v) {
  if (v.credentials_error) return [["c2pa", `BROKEN: ${v.credentials_error}`]];
  const c = v.credentials;
  if (!c) return [["c2pa", "no Content Credentials"]];
  const untrusted = c.failures.includes("signingCredential.untrusted");
  const state = c.state === "trusted" ? "valid, trusted signer"
    : c.state === "valid" ? (untrusted ? "valid signature, issuer not on a trust list" : "valid")
    : `INVALID (${c.failures.filter((f) => f !== "signingCredential.untrusted").join(", ")})`;
  const place = c.source === "embedded" ? "" : ` (from ${c.source})`;
  const out = [["c2pa", `${state}; signed by ${c.signer_name || "unknown signer"}${place}`]];
  if (c.generator) out.push(["made by", c.generator]);
  if (c.actions.length) out.push(["did", c.actions.join(", ")]);
  if (c.digital_source_type) {
    const kind = c.digital_source_type.split("/").pop();
    out.push(["source", c.ai_generated ? `AI-GENERATED (${kind})` : kind]);
  }
  const entries = Object.entries(c.training_mining).map(([k, val]) => `${k.replace(/^cawg\./, "")} ${val}`);
  if (entries.length) out.push(["AI policy", entries.join(", ")]);
  for (const b of c.soft_bindings) {
    const what = b.payload ? `marker ${b.payload.key_fingerprint}:${b.payload.track_id}` : `${b.alg} ${b.value}`;
    const verdict = !b.payload ? ""
      : c.matches_marker === true ? ": the audio carries it"
      : c.matches_marker === false ? ": NOT the marker in the audio"
      : ": not found in the audio (cannot tell)";
    out.push(["binds", `${what}${verdict}`]);
  }
  return out;
}

function renderVerify(c, v, seconds) {
  const e = c.element;
  e.classList.add(STATUS_CLASS[v.status] || "none");
  e.append(el("p", { class: "verdict", text: v.verdict }));
  e.append(line("audio", `${v.seconds.toFixed(1)} s, ${v.sample_rate} Hz, ${v.channels} ch`));
  for (const m of v.markers) {
    e.append(line("payload", `${m.payload.key_fingerprint}:${m.payload.track_id} (key ${m.payload.key_fingerprint}, track ${m.payload.track_id})`));
    e.append(line("confidence", `sync z ${m.sync_z.toFixed(1)} (a marker needs 4.0 or more), ${(100 * m.bit_agreement).toFixed(0)}% of coded bits agree`));
  }
  if (v.marked) e.append(timeline(v));
  if (v.change) e.append(line("change", `found after a ${v.change}`));
  if (v.marker_note) e.append(line("why", v.marker_note));
  const seal = sealText(v.seal, v.seal_missing);
  if (seal) e.append(line("seal", seal));
  if (!v.marked && !v.too_quiet) e.append(line("best sync", `z ${v.best_sync_z.toFixed(1)} (a marker needs 4.0 or more)`));
  const m = v.manifest;
  if (m) {
    const doc = m.document.manifest;
    e.append(line("manifest", `${m.verdict} (${m.source})`));
    if (m.signer) e.append(line("signer", m.signer));
    if (m.matches_marker !== null) e.append(line("matches", m.matches_marker ? "the marker payload" : "NOT the marker payload"));
    e.append(line("content", m.audio_identical ? "the audio is bit-identical to what was signed" : "the audio was re-encoded or edited since it was signed"));
    const who = [doc.title, doc.artist].filter(Boolean).join(" by ");
    if (who) e.append(line("track", who));
    e.append(line("signed", `${doc.created} by ${doc.tool}`));
    e.append(el("p", { class: "policy", text: doc.policy.notice }));
  } else if (v.manifest_error) {
    e.append(line("manifest", `UNREADABLE: ${v.manifest_error}`));
  } else {
    e.append(line("manifest", "none in this file"));
  }
  for (const [label, text] of credentialsLines(v)) e.append(line(label, text));
  for (const w of v.warnings) e.append(line("warning", w));
  e.append(el("p", { class: "hint", text: `checked in ${seconds.toFixed(1)} s on this computer` }));
}

async function verifyFiles(files) {
  const { keys, certs } = trusted();
  const trust = keys.join("\n");
  const c2paTrust = certs.join("\n");
  for (const f of files) {
    const c = card($("verify-results"), f.name, "Checking");
    try {
      const bytes = await f.arrayBuffer();
      const v = await call("verify", { bytes, trust, c2paTrust, name: f.name }, [bytes], (p) => c.progress(p));
      renderVerify(c, v, c.done());
    } catch (e) {
      c.fail(e.message);
    }
  }
}
$("verify-files").addEventListener("change", (ev) => {
  verifyFiles([...ev.target.files]);
  ev.target.value = "";
});

// ---- stamp
let signingKey = null; // { pem, fingerprint }
function setKey(pem, fp, how) {
  signingKey = { pem, fingerprint: fp };
  $("key-status").textContent = `Key ${fp} ${how}.`;
  $("stamp-files").disabled = false;
  $("stamp-drop").querySelector("span").textContent = "Drop tracks here, or click to choose";
}

function download(name, data, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el("a", { href: url, download: name, class: "button", text: `Download ${name}` });
  return a;
}

$("key-new").onclick = async () => {
  try {
    const k = await call("keygen");
    setKey(k.privatePem, k.fingerprint, "made: save both files, and keep artist.pem secret");
    const links = el("p", { class: "row" },
      download("artist.pem", k.privatePem, "application/x-pem-file"),
      download("artist.pub.pem", k.publicPem, "application/x-pem-file"));
    $("key-status").after(links);
    for (const a of links.querySelectorAll("a")) a.click();
  } catch (e) {
    $("key-status").textContent = e.message;
  }
};
$("key-file").addEventListener("change", async (ev) => {
  const f = ev.target.files[0];
  ev.target.value = "";
  if (!f) return;
  const pem = await f.text();
  if (/BEGIN PUBLIC KEY/.test(pem) && !/BEGIN PRIVATE KEY/.test(pem)) {
    $("key-status").textContent = `${f.name}: this is a public key; load your private key (e.g. artist.pem)`;
    return;
  }
  try {
    const fp = await call("fingerprint", { pem });
    setKey(pem, fp, `loaded from ${f.name}`);
  } catch (e) {
    $("key-status").textContent = `${f.name}: ${e.message}`;
  }
});

function outputNames(input, format) {
  const stem = input.replace(/\.[^.]*$/, "") || "untitled";
  return { audio: `${stem}.earmark.${format}`, sidecar: `${stem}.${format}.earmark.json` };
}

async function stampFiles(files) {
  const format = $("format").value;
  for (const f of files) {
    const c = card($("stamp-results"), f.name, "Stamping");
    try {
      const bytes = await f.arrayBuffer();
      const options = {
        created: Math.floor(Date.now() / 1000),
        format,
        title: $("title").value,
        artist: $("artist").value,
        policy: $("policy").value,
      };
      const r = await call("stamp", { bytes, key: signingKey.pem, options, name: f.name }, [bytes],
        (p) => c.progress(p));
      const seconds = c.done();
      const names = outputNames(f.name, format);
      const e = c.element;
      e.classList.add("ok");
      const p = r.record.payload;
      e.append(el("p", { class: "verdict", text: `STAMPED ${p.key_fingerprint}:${p.track_id}` }));
      e.append(line("audio", `${r.record.seconds.toFixed(1)} s; marker in ${(100 * r.record.marked_fraction).toFixed(0)}% of frames`));
      e.append(el("p", { class: "policy", text: r.manifest.manifest.policy.notice }));
      for (const w of r.record.warnings) e.append(line("warning", w));
      e.append(el("p", { class: "row" },
        download(names.audio, r.bytes, format === "flac" ? "audio/flac" : "audio/wav"),
        download(names.sidecar, r.sidecar, "application/json")));
      e.append(el("p", { class: "hint", text: `stamped in ${seconds.toFixed(1)} s on this computer` }));
    } catch (e) {
      c.fail(e.message);
    }
  }
}
$("stamp-files").addEventListener("change", (ev) => {
  stampFiles([...ev.target.files]);
  ev.target.value = "";
});

// Dropping files anywhere on a drop zone.
for (const [zone, input] of [["verify-drop", "verify-files"], ["stamp-drop", "stamp-files"]]) {
  const z = $(zone);
  z.addEventListener("dragover", (ev) => { ev.preventDefault(); z.classList.add("over"); });
  z.addEventListener("dragleave", () => z.classList.remove("over"));
  z.addEventListener("drop", (ev) => {
    ev.preventDefault();
    z.classList.remove("over");
    if ($(input).disabled) return;
    const files = [...ev.dataTransfer.files];
    input === "verify-files" ? verifyFiles(files) : stampFiles(files);
  });
}
