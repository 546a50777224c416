// The page's Web Worker: the WebAssembly engine runs here, so the page stays
// responsive while a long track is decoded, stamped or searched.
//
// Two builds of one engine: pkg/ (instantiated at once) and pkg-c2pa/, which
// also reads Content Credentials and is instantiated the first time a
// dropped file carries a C2PA manifest store. Its bytes are fetched from this
// page's own folder as soon as the first is ready, so that the page works
// offline once loaded.
import init, * as engine from "./pkg/earmark.js";
import initCredentials, * as credentialsBuild from "./pkg-c2pa/earmark.js";

const ready = init();
const credentialsBytes = ready
  .then(() => fetch(new URL("./pkg-c2pa/earmark_bg.wasm", import.meta.url)))
  .then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(`HTTP ${r.status}`))));
credentialsBytes.catch(() => {}); // reported when it is needed
let withCredentials = null; // the pkg-c2pa instance, once made
let generation = 0; // a new one after a trap: a fresh instance

function credentialsEngine() {
  if (!withCredentials) {
    withCredentials = (async () => {
      const bytes = await credentialsBytes;
      // A module instance that trapped cannot be used again: a later one
      // comes from a fresh copy of the glue code.
      const m = generation === 0 ? { default: initCredentials, ...credentialsBuild }
        : await import(`./pkg-c2pa/earmark.js?instance=${generation}`);
      await m.default({ module_or_path: bytes });
      return m;
    })();
    withCredentials.catch(() => (withCredentials = null));
  }
  return withCredentials;
}

// How far the engine has read the file, posted to the page as it goes (the
// page draws the bar while this worker is busy).
const progress = (id) => (fraction) => self.postMessage({ id, progress: fraction });

// Verifies with the build that reads Content Credentials when the file holds
// them. If that build stops on a hostile manifest store (a WebAssembly trap:
// its instance cannot be used again), the file is verified without them, the
// record says why, and the next file gets a fresh instance.
async function verify(id, args) {
  const bytes = new Uint8Array(args.bytes);
  const options = { trust: args.trust, c2paTrust: args.c2paTrust, name: args.name, onProgress: progress(id) };
  if (!engine.mayHoldCredentials(bytes)) return { result: engine.verify(bytes, options) };
  let full;
  try {
    full = await credentialsEngine();
  } catch (e) {
    // Not checked is not broken: the verdict stands, with a warning.
    const result = engine.verify(bytes, options);
    result.warnings.push(`the file carries Content Credentials, but their reader could not be loaded (${e.message || e}): open the page once while online`);
    return { result };
  }
  try {
    return { result: full.verify(bytes, options) };
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    generation += 1;
    withCredentials = null;
    const why = "C2PA: the manifest store could not be parsed";
    return { result: engine.verify(bytes, { ...options, credentialsError: why }) };
  }
}

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    await ready;
    let result;
    switch (op) {
      case "version":
        result = engine.version();
        break;
      case "verify": {
        const r = await verify(id, args);
        self.postMessage({ id, ok: true, result: r.result });
        return;
      }
      case "stamp": {
        const r = engine.stamp(new Uint8Array(args.bytes), args.key, { ...args.options, name: args.name, onProgress: progress(id) });
        self.postMessage({ id, ok: true, result: r }, [r.bytes.buffer]);
        return;
      }
      case "keygen": {
        const k = engine.keygen();
        result = { privatePem: k.private_pem, publicPem: k.public_pem, fingerprint: k.fingerprint };
        k.free();
        break;
      }
      case "fingerprint":
        result = engine.fingerprint(args.pem);
        break;
      default:
        throw new Error(`unknown operation ${op}`);
    }
    self.postMessage({ id, ok: true, result });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
};
