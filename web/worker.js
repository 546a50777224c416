// The page's Web Worker: the WebAssembly engine runs here, so the page stays
// responsive while a long track is decoded, stamped or searched.
import init, { verify, stamp, keygen, fingerprint, version } from "./pkg/earmark.js";

const ready = init();

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
        result = JSON.parse(verify(new Uint8Array(args.bytes), args.trust, args.name));
        break;
      case "stamp": {
        const s = stamp(new Uint8Array(args.bytes), args.key, JSON.stringify(args.options), args.name);
        const bytes = s.bytes;
        result = { bytes, info: JSON.parse(s.json), sidecar: s.sidecar };
        s.free();
        self.postMessage({ id, ok: true, result }, [bytes.buffer]);
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
