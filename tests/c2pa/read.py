"""Reads a file's C2PA manifest store with c2pa-python (the independent
reader the tests check earmark against) and prints one JSON object:
validation state, failure codes, signer, and the active manifest's
assertions by label.

usage: python read.py FILE [SIDECAR.c2pa]
       python read.py --store STORE.c2pa   (a manifest store on its own)
"""
import json
import sys

import c2pa


def main():
    path = sys.argv[1]
    if path == "--store":
        with open(sys.argv[2], "rb") as store:
            with c2pa.Reader("application/c2pa", store) as reader:
                report(reader)
    elif len(sys.argv) > 2:
        with open(sys.argv[2], "rb") as f:
            store = f.read()
        with open(path, "rb") as asset:
            reader = c2pa.Reader("application/octet-stream", asset, store)
            report(reader)
    else:
        with c2pa.Reader(path) as reader:
            report(reader)


def report(reader):
    manifest = reader.get_active_manifest() or {}
    results = reader.get_validation_results() or {}
    active = results.get("activeManifest", {})
    print(json.dumps({
        "sdk": c2pa.sdk_version(),
        "label": manifest.get("label"),
        "state": reader.get_validation_state(),
        "failures": [s["code"] for s in active.get("failure", [])],
        "signer": manifest.get("signature_info", {}).get("common_name"),
        "assertions": {a["label"]: a.get("data") for a in manifest.get("assertions", [])},
        "ingredients": [i.get("title") for i in manifest.get("ingredients", [])],
    }))


if __name__ == "__main__":
    main()
