// The page's Web Worker: the WebAssembly engine runs here, so the page stays
// responsive while a long track is decoded, stamped or searched.
import init, { verify, stamp, keygen, fingerprint, version } from "./pkg/earmark.js";

const ready = init();

// How far the engine has read the file, posted to the page as it goes (the
// page draws the bar while this worker is busy).
const progress = (id) => (fraction) => self.postMessage({ id, progress: fraction });

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    await ready;
    let result;
    switch (op) {
      case "version":
        result = version();
        break;
      case "verify":
        result = verify(new Uint8Array(args.bytes), { trust: args.trust, name: args.name, onProgress: progress(id) });
        break;
      case "stamp": {
        const r = stamp(new Uint8Array(args.bytes), args.key, { ...args.options, name: args.name, onProgress: progress(id) });
        self.postMessage({ id, ok: true, result: r }, [r.bytes.buffer]);
        return;
      }
      case "keygen": {
        const k = keygen();
        result = { privatePem: k.private_pem, publicPem: k.public_pem, fingerprint: k.fingerprint };
        k.free();
        break;
      }
      case "fingerprint":
        result = fingerprint(args.pem);
        break;
      default:
        throw new Error(`unknown operation ${op}`);
    }
    self.postMessage({ id, ok: true, result });
  } catch (e) {
    self.postMessage({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
};
