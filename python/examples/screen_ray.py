"""Screen a dataset for earmark's marker with Ray Data; write a Parquet table.

    python screen_ray.py FOLDER verdicts/
    python screen_ray.py --hf-dataset NAME_OR_SAVED_DIR [--split train] [--column audio] verdicts/
    RAY_ADDRESS=ray://head:10001 python screen_ray.py FOLDER s3://bucket/verdicts/

The input is a folder of audio files (recursively) or a Hugging Face ``datasets``
Audio column (a hub name or a ``save_to_disk`` folder, read undecoded so earmark
decodes the original bytes). ``map_batches`` screens each batch with
``earmark.screen`` on Rust threads; the Parquet dataset has one row per input:
path, marked, payload, confidence, seal, declaration, exit_code, error.

Without RAY_ADDRESS, Ray starts a local instance on this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import sys

import earmark


def schema():
    """The verdict table's columns, typed (a batch whose column is all None
    must still match the others)."""
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("marked", pa.bool_()), ("payload", pa.string()),
                      ("confidence", pa.float64()), ("seal", pa.string()),
                      ("declaration", pa.string()), ("exit_code", pa.int32()),
                      ("error", pa.string())])


class Screen:
    """A batch of inputs (paths, or Hugging Face Audio structs) to verdict rows."""

    def __init__(self, column: str, trust: list[str]):
        self.column = column
        self.trust = trust

    def __call__(self, batch):
        import pyarrow as pa

        items = batch[self.column].to_pylist()
        rows = [r.row() for r in earmark.screen(items, workers=1, trust=self.trust,
                                               ordered=True, progress=False)]
        return pa.Table.from_pylist(rows, schema=schema())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", help="folder of audio files")
    ap.add_argument("out", help="folder (or URI) to write the Parquet dataset to")
    ap.add_argument("--hf-dataset", help="Hugging Face dataset name or save_to_disk folder")
    ap.add_argument("--split", default="train")
    ap.add_argument("--column", default="audio")
    ap.add_argument("--trust", action="append", default=[], help="public key PEM to trust")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--num-cpus", type=int, default=None, help="local Ray CPUs (default: all)")
    args = ap.parse_args(argv)
    if (args.folder is None) == (args.hf_dataset is None):
        ap.error("give a folder or --hf-dataset (one of them)")

    import pandas as pd
    import ray

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    trust = [open(p).read() for p in args.trust]
    try:
        if args.folder:
            paths = list(earmark.audio_files(args.folder))
            ds = ray.data.from_items([{"path": p} for p in paths])
            column = "path"
        else:
            import datasets

            if os.path.isdir(args.hf_dataset):
                hf = datasets.load_from_disk(args.hf_dataset)
                if isinstance(hf, datasets.DatasetDict):
                    hf = hf[args.split]
            else:
                hf = datasets.load_dataset(args.hf_dataset, split=args.split)
            hf = hf.cast_column(args.column, datasets.Audio(decode=False))
            ds = ray.data.from_huggingface(hf)
            column = args.column
        verdicts = ds.map_batches(Screen, fn_constructor_args=(column, trust),
                                  batch_size=args.batch_size, batch_format="pyarrow",
                                  concurrency=(1, max(1, int(ray.available_resources()
                                                             .get("CPU", 1)))))
        verdicts.write_parquet(args.out)
    finally:
        ray.shutdown()
    table = pd.read_parquet(args.out)
    marked = int(table["marked"].sum())
    errors = int(table["error"].notna().sum())
    print(f"{len(table)} inputs: {marked} marked, {len(table) - marked - errors} not marked, "
          f"{errors} errors -> {args.out}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
