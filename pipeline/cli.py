"""The `image-pipeline` command: run the pipeline, write the demo data, show a run's summary.

Mistakes a new user makes (a missing data folder, a typo in the config) end in one line
that names the problem and the fix, and exit code 2; data that fails validation ends the
run before Transform with the validation gate's findings in one block, and exit code 1;
the full log of every run goes to
`<output_dir>/logs/`, while the console shows progress: each component as it starts and
finishes, and the pipeline's own messages (ingestion counts, one line per training epoch).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import List

from pipeline import config as config_lib

# TF's C++ start-up chatter (CUDA plugins on a CPU machine) and Google client libraries'
# Python-version notices are noise on the console; failures still raise Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=FutureWarning)

_OUR_PACKAGES = tuple(
    str(Path(__file__).resolve().parents[1] / package) + os.sep
    for package in ("pipeline", "components", "trainer")
)


class _ProgressFilter(logging.Filter):
    """Lets through component start/finish lines, our own INFO lines, and errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        if record.pathname.startswith(_OUR_PACKAGES):
            return record.levelno >= logging.INFO
        message = record.getMessage()
        return message.startswith("Component ") and message.endswith(
            ("is running.", "is finished.")
        )


def _configure_logging(output_dir: str) -> str:
    from absl import logging as absl_logging

    log_dir = os.path.join(output_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    log_file = os.path.join(log_dir, time.strftime("run-%Y%m%d-%H%M%S.log"))
    absl_logging.set_verbosity(absl_logging.INFO)
    tensorflow_logger = logging.getLogger("tensorflow")
    tensorflow_logger.handlers.clear()
    tensorflow_logger.propagate = True
    root = logging.getLogger()
    root.handlers.clear()
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    console.addFilter(_ProgressFilter())
    root.addHandler(file_handler)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    return log_file


def _run(args: argparse.Namespace) -> int:
    from components.image_example_gen import ingest
    from components.validation_gate.gate import ValidationGateError
    from pipeline import local_runner, summary

    config = config_lib.load_config(args.config, args.overrides)
    if config.data.span_pattern:
        if not os.path.isdir(config.data.root):
            raise ingest.IngestError(
                f"{config.data.root}: data folder not found; set data.root to the folder that "
                f"holds the {config.data.span_pattern} folders"
            )
        found = f"the newest {config.data.span_pattern} in {config.data.root}"
    else:
        listing = ingest.list_input(config.data.root, config.data.manifest, list(config.data.split))
        found = (
            f"{len(listing.files)} files in {len(listing.classes)} classes from "
            f"{os.path.normpath(os.path.join(config.data.root, config.data.manifest))}"
        )
    if not os.path.isfile(config.schema_file):
        raise config_lib.ConfigError(
            f"schema_file: {config.schema_file} not found; point it at a schema.pbtxt "
            "(see schema/ and the README's section on the schema)"
        )
    log_file = _configure_logging(config.output_dir)
    print(
        f"Running {config.pipeline_name}: {found}\n"
        f"  weights: {config.trainer.weights}; full log: {log_file}",
        flush=True,
    )
    started = time.monotonic()
    try:
        local_runner.run(config)
    except ValidationGateError as stopped:
        print(f"{stopped}\n{summary.summarize(config).files_line()}")
        return 1
    result = summary.summarize(config)
    print(result.as_text())
    print(f"  finished in {time.monotonic() - started:.0f} s")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from pipeline import summary

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    config = config_lib.load_config(args.config, args.overrides)
    result = summary.summarize(config)
    print(result.as_json() if args.json else result.as_text())
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from pipeline import demo_data

    count = demo_data.write_digits(args.out)
    print(f"Demo data: {count} digit images in {os.path.abspath(args.out)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-pipeline", description="TFX image classification pipeline"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(command: argparse.ArgumentParser) -> None:
        command.add_argument("--config", required=True, help="YAML config (see configs/)")
        command.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set trainer.epochs=5 (repeatable)",
        )

    run = commands.add_parser("run", help="run the pipeline locally with LocalDagRunner")
    with_config(run)
    run.set_defaults(handler=_run)

    show = commands.add_parser("summary", help="summarise the latest run from ML Metadata")
    with_config(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(handler=_summary)

    demo = commands.add_parser("demo-data", help="write the digits demo data as PNG folders")
    demo.add_argument("--out", default="data/digits", help="folder to write (default: %(default)s)")
    demo.set_defaults(handler=_demo_data)
    return parser


def main(argv: List[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from components.image_example_gen.ingest import IngestError
    from trainer.model import WeightsError

    try:
        return args.handler(args)
    except (config_lib.ConfigError, IngestError, WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
