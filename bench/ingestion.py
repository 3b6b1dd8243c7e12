"""Ingestion throughput: ImageExampleGen's executor against a loop that only reads and hashes.

Reading and hashing every file is the floor any ingestion pays; the question is what the
rest costs (header checks, a decode of every image so broken files are caught here rather
than in Transform, dedup by content, TFRecord writing, the report) and whether Beam
workers win it back. Two more loops locate the cost: read + hash + zlib's default GZIP
compression, which TFX's own ExampleGen writer gives every record (ImageExampleGen stores
the already-compressed image bytes instead: `records.py`), and `reading.read_file` (all
per-file checks) without Beam. Run as a script (see bench/README.md):

    PYTHONPATH=. TF_USE_LEGACY_KERAS=1 python bench/ingestion.py --jpegs 300 --workers 1 2

It prints one markdown table: images/s for each way, on the digits demo (1,797 8x8 PNGs)
and on generated 512x512 photo-like JPEGs, and the ratio to read-and-hash. Beam runs (the
same read-and-hash inside Beam, spread as the executor spreads its work, which is the
floor of any Beam ingestion; and the executor) are given twice: whole runs, and the rate
per image beyond the fixed cost of a run (Beam start-up, worker processes), from the time
the other half of the files adds to a run over every other file.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, List

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import apache_beam as beam  # noqa: E402
import numpy as np  # noqa: E402
from absl import logging  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from PIL import Image  # noqa: E402

from components.image_example_gen import executor, listing, reading  # noqa: E402
from components.image_example_gen.standalone import run_executor  # noqa: E402
from pipeline import demo_data  # noqa: E402


def write_jpegs(root: Path, count: int, side: int) -> None:
    """Photo-like JPEGs (smooth gradients plus sensor noise) in two class folders."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side]
    for index in range(count):
        phase = index * 7
        base = np.stack([(x + phase) / 2, (y + phase) / 2, (x + y) / 4], axis=-1) % 256
        noisy = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noisy).save(folder / f"{index:05d}.jpg", quality=90)


def files_of(root: Path) -> List[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def copy_half(root: Path, target: Path) -> Path:
    """Every other file of `root`, by path, in the same class folders under `target`."""
    for path in files_of(root)[::2]:
        copy = target / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    return target


def read_and_hash(files: List[Path]) -> None:
    for path in files:
        hashlib.sha256(path.read_bytes()).hexdigest()


def read_hash_gzip(files: List[Path]) -> None:
    """Read and hash, plus the GZIP compression TFX's ExampleGen writer gives each record."""
    for path in files:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 31)
        compressor.compress(data)
        compressor.flush()


def _hash_file(path: str) -> str:
    import hashlib  # noqa: PLC0415 - Beam pickles functions of __main__ without its imports

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def direct_runner_args(workers: int) -> List[str]:
    """DirectRunner flags: in-process for one worker, one process per worker for more."""
    mode = "in_memory" if workers == 1 else "multi_processing"
    return [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]


def beam_read_and_hash(files: List[Path], workers: int) -> Callable[[], None]:
    """Read and hash inside Beam, spread as the executor spreads its work: Beam's own floor."""
    options = PipelineOptions(direct_runner_args(workers))

    def run() -> None:
        with beam.Pipeline(options=options) as pipeline:
            _ = (
                pipeline
                | beam.Create([str(path) for path in files], reshuffle=True)
                | beam.Map(_hash_file)
                | beam.combiners.Count.Globally()
            )

    return run


def read_file_loop(files: List[Path], root: Path) -> None:
    limits = reading.Limits(min_side=1)
    for path in files:
        relative = path.relative_to(root).as_posix()
        reading.read_file(listing.SourceFile(str(path), relative, path.parent.name), limits)


def timed(work: Callable[[], None], repeats: int) -> float:
    """Best wall-clock seconds of `repeats` runs (the machine is shared; best is least noisy)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def executor_run(root: Path, scratch: Path, workers: int) -> Callable[[], None]:
    args = direct_runner_args(workers)
    runs = iter(range(1_000_000))

    def run() -> None:
        out = scratch / f"run-{workers}-{next(runs)}"
        examples = run_executor(root, out, min_side=1, max_pixels=10**8, beam_pipeline_args=args)
        counts = executor.read_counts(examples.uri)
        if counts["examples"] + counts["duplicates"] != counts["files_seen"]:
            raise RuntimeError(f"bench data was not ingested whole: {counts}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jpegs", type=int, default=300, help="generated JPEGs (default 300)")
    parser.add_argument("--side", type=int, default=512, help="JPEG side in pixels")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Beam workers")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)

    scratch = Path(tempfile.mkdtemp(prefix="bench-ingestion-"))
    datasets = {"digits (8x8 PNG)": scratch / "digits", f"{args.side}px JPEG": scratch / "jpegs"}
    demo_data.write_digits(datasets["digits (8x8 PNG)"])
    write_jpegs(datasets[f"{args.side}px JPEG"], args.jpegs, args.side)

    ways = {  # column: the run for a folder; Beam's floor, then the executor
        f"Beam read + hash, {w} worker(s)": lambda root, w=w: beam_read_and_hash(files_of(root), w)
        for w in args.workers
    }
    ways.update(
        {
            f"executor, {w} worker(s)": lambda root, w=w: executor_run(root, scratch, w)
            for w in args.workers
        }
    )
    print(
        f"cores: {os.cpu_count()}; best of {args.repeats} runs; images/s (ratio to read+hash); "
        "Beam runs: whole run / per image beyond the fixed cost (from runs over all the files "
        "and over every other file)"
    )
    print(
        "| data | files | read + hash | read + hash + TFX's gzip | read_file loop | "
        + " | ".join(ways)
        + " |"
    )
    print("|---" * (5 + len(ways)) + "|")
    for name, root in datasets.items():
        files = files_of(root)
        half = copy_half(root, scratch / f"{root.name}-half")
        read_and_hash(files)  # warm the page cache, as for every measurement below
        floor = len(files) / timed(functools.partial(read_and_hash, files), args.repeats)
        cells = [f"{floor:,.0f}"]
        gzip = len(files) / timed(functools.partial(read_hash_gzip, files), args.repeats)
        cells.append(f"{gzip:,.0f} ({gzip / floor:.2f})")
        loop = len(files) / timed(functools.partial(read_file_loop, files, root), args.repeats)
        cells.append(f"{loop:,.0f} ({loop / floor:.2f})")
        for run in ways.values():
            seconds = timed(run(root), args.repeats)
            extra = seconds - timed(run(half), args.repeats)
            whole = len(files) / seconds
            cell = f"{whole:,.0f} ({whole / floor:.3f}) / "
            if extra > 0.1 * seconds:
                marginal = (len(files) - len(files_of(half))) / extra
                cell += f"{marginal:,.0f} ({marginal / floor:.3f})"
            else:  # the second half cost less than the noise of a run
                cell += "within noise"
            cells.append(cell)
        print(f"| {name} | {len(files)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
