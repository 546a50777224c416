"""Screen a dataset for earmark's marker on a Dask cluster; write a Parquet table.

    python screen_dask.py FOLDER verdicts.parquet
    python screen_dask.py --hf-dataset NAME_OR_SAVED_DIR [--split train] [--column audio] verdicts.parquet
    python screen_dask.py FOLDER verdicts.parquet --scheduler tcp://scheduler:8786

The input is a folder of audio files (recursively) or a Hugging Face ``datasets``
Audio column (a hub name or a dataset saved with ``save_to_disk``; the column is
read undecoded, so earmark decodes the original bytes). Each Dask partition is
screened by ``earmark.screen`` on Rust threads; the table has one row per input:
path, marked, payload, confidence, seal, declaration, exit_code, error.

Without ``--scheduler`` a ``distributed.LocalCluster`` runs here (one process
per core, one thread each: the screening threads are earmark's own).
"""

from __future__ import annotations

import argparse
import os
import sys

import earmark

COLUMNS = {
    "path": "string",
    "marked": "bool",
    "payload": "string",
    "confidence": "float64",
    "seal": "string",
    "declaration": "string",
    "exit_code": "Int64",
    "error": "string",
}


def screen_paths(paths: list[str], trust: list[str], threads: int) -> list[dict]:
    """One partition of paths: their verdict rows."""
    return [r.row() for r in earmark.screen(paths, workers=threads, trust=trust,
                                           ordered=True, progress=False)]


def screen_rows(dataset, indices: list[int], column: str, trust: list[str],
                threads: int) -> list[dict]:
    """One partition of a Hugging Face dataset: its verdict rows."""
    rows = (dataset[i][column] for i in indices)
    return [r.row() for r in earmark.screen(rows, workers=threads, trust=trust,
                                           ordered=True, progress=False)]


def load_hf(name: str, split: str, column: str):
    import datasets

    if os.path.isdir(name):
        ds = datasets.load_from_disk(name)
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
    else:
        ds = datasets.load_dataset(name, split=split)
    # Undecoded: {"bytes", "path"} per row, so earmark reads the original file.
    return ds.cast_column(column, datasets.Audio(decode=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", help="folder of audio files")
    ap.add_argument("out", help="Parquet file (or folder) to write")
    ap.add_argument("--hf-dataset", help="Hugging Face dataset name or save_to_disk folder")
    ap.add_argument("--split", default="train")
    ap.add_argument("--column", default="audio")
    ap.add_argument("--trust", action="append", default=[], help="public key PEM to trust")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="local cluster processes (default: one per core)")
    ap.add_argument("--partition-size", type=int, default=200, help="inputs per task")
    args = ap.parse_args(argv)
    if (args.folder is None) == (args.hf_dataset is None):
        ap.error("give a folder or --hf-dataset (one of them)")

    import dask.bag as db
    import pandas as pd
    from dask.distributed import Client, LocalCluster

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    trust = [open(p).read() for p in args.trust]
    try:
        if args.folder:
            paths = list(earmark.audio_files(args.folder))
            bag = db.from_sequence(paths, partition_size=args.partition_size)
            rows = bag.map_partitions(screen_paths, trust, 1)
        else:
            ds = load_hf(args.hf_dataset, args.split, args.column)
            bag = db.from_sequence(range(len(ds)), partition_size=args.partition_size)
            rows = bag.map_partitions(lambda ix: screen_rows(ds, list(ix), args.column, trust, 1))
        meta = pd.DataFrame({k: pd.Series(dtype=v) for k, v in COLUMNS.items()})
        frame = rows.to_dataframe(meta=meta)
        frame.to_parquet(args.out, write_index=False)
        table = pd.read_parquet(args.out)
    finally:
        client.close()
    marked = int(table["marked"].sum())
    errors = int(table["error"].notna().sum())
    print(f"{len(table)} inputs: {marked} marked, {len(table) - marked - errors} not marked, "
          f"{errors} errors -> {args.out}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
