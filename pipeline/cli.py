"""The `image-pipeline` command: propose a config and schema for a folder of images (`init`),
run the pipeline, write the demo data, show a run's summary or its HTML evaluation report,
classify images with a pushed model, and compile, submit or schedule it on Kubeflow
Pipelines.

Exit codes, for people and for schedulers:
- 0: done; for `run`, the model was blessed and pushed;
- 1: failed: data that fails validation (the run ends before Transform with the validation
  gate's findings in one block), a component that failed, files `predict` could not read;
- 2: a mistake in the command, the config or the data folder (a missing folder, a typo in
  the config, a single class), or an output folder that cannot take the run (another run
  holds it, it cannot be written, the disk is full, its ML Metadata is damaged): one line
  that names the problem and the fix;
- 3: `run` finished, but the model was not blessed, so nothing was pushed (the summary says
  which threshold failed);
- 130 (143 for SIGTERM): interrupted; `run` names the component it stopped and the command
  that resumes it (README, "When a run is interrupted").

The full log of every run goes to `<output_dir>/logs/`, while the console shows progress:
each component as it starts and finishes, and the pipeline's own messages (ingestion
counts, one line per training epoch).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import List

import yaml

from pipeline import config as config_lib
from pipeline import config_loader, nodes

# TF's C++ start-up chatter (CUDA plugins on a CPU machine) and Google client libraries'
# Python-version notices are noise on the console; failures still raise Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=FutureWarning)

_OUR_PACKAGES = tuple(
    str(Path(__file__).resolve().parents[1] / package) + os.sep
    for package in ("pipeline", "components", "trainer")
)


_KUBEFLOW_COMMANDS = ("compile", "submit", "schedule")


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


NOT_BLESSED = 3
"""`run`'s exit code when the pipeline finished but the model was not blessed."""


def _run(args: argparse.Namespace) -> int:
    from components.validation_gate import gate
    from pipeline import local_runner, summary

    config = config_loader.load_config(args.config, args.overrides)
    found = _input(config)
    if not config.schema_file:
        raise config_lib.ConfigError(config_lib.NO_SCHEMA)
    if not os.path.isfile(config.schema_file):
        raise config_lib.ConfigError(
            f"schema_file: {config.schema_file} not found; "
            f"`{gate.ACCEPT_COMMAND.format(config=_config_args(args))}` writes it from the data "
            "in data.root, or point schema_file at a curated schema.pbtxt"
        )
    local_runner.check_output_dir(config.output_dir)
    log_file = _configure_logging(config.output_dir)
    print(
        f"Running {config.pipeline_name}: {found}\n"
        f"  weights: {config.trainer.weights}; full log: {log_file}",
        flush=True,
    )
    started = time.monotonic()
    try:
        run_id = local_runner.run(config)
    except gate.ValidationGateError as stopped:
        block = (
            gate.report(stopped.findings, gate.STOP, _config_args(args))
            if stopped.findings
            else str(stopped)
        )
        print(f"{block}\n{summary.summarize(config).files_line()}")
        return 1
    result = summary.summarize(config, run_id)
    print(result.as_text())
    print(f"  finished in {time.monotonic() - started:.0f} s")
    return NOT_BLESSED if result.blessed is False else 0


def _input(config: config_lib.PipelineConfig) -> str:
    """What the data folder holds, listed as ImageExampleGen will list it (so that a missing
    folder, no images or a single class end here, in one line, before any work)."""
    from components.image_example_gen.listing import list_input
    from components.image_example_gen.rows import IngestError

    if config.data.span_pattern:
        if not os.path.isdir(config.data.root):
            raise IngestError(
                f"{config.data.root}: data folder not found; set data.root to the folder that "
                f"holds the {config.data.span_pattern} folders"
            )
        return f"the newest {config.data.span_pattern} in {config.data.root}"
    listing = list_input(config.data.root, config.data.manifest, list(config.data.split))
    return (
        f"{len(listing.files)} files in {len(listing.classes)} classes from "
        f"{os.path.normpath(os.path.join(config.data.root, config.data.manifest))}"
    )


def _config_args(args: argparse.Namespace) -> str:
    """The config file(s) as the command was given them: `configs/a.yaml --config b.yaml`."""
    configs = args.config if isinstance(args.config, list) else [args.config]
    return " --config ".join(configs)


def _init(args: argparse.Namespace) -> int:
    from pipeline import init, local_runner

    config_path = Path(args.config)
    if args.update_schema:
        if not config_path.is_file():
            raise config_lib.ConfigError(
                f"{config_path}: config not found; --update-schema widens the schema of an "
                "existing config (without it, init writes a new config)"
            )
        config = config_loader.load_config(config_path, args.overrides)
        if not config.schema_file:
            raise config_lib.ConfigError(f"{config_path}: {config_lib.NO_SCHEMA}")
        if args.data_dir and os.path.abspath(args.data_dir) != config.data.root:
            raise config_lib.ConfigError(
                f"{args.data_dir}: --update-schema reads the config's data.root "
                f"({config.data.root}); leave DATA_DIR out, or set data.root"
            )
    else:
        if not args.data_dir:
            raise config_lib.ConfigError(
                "init: give the folder of images: image-pipeline init DATA_DIR --config "
                "configs/NAME.yaml"
            )
        for path in (config_path, init.schema_path(config_path)):
            if path.exists():
                raise config_lib.ConfigError(
                    f"{path}: exists; init writes new files: choose another --config name, or "
                    "give --update-schema to widen that config's schema to the data"
                )
        config, values = init.proposed_config(args.data_dir, config_path, args.overrides)
    found = _input(config)
    local_runner.check_output_dir(config.output_dir)
    log_file = _configure_logging(config.output_dir)
    print(
        f"Looking at {found} as a run will (ImageExampleGen, StatisticsGen, SchemaGen; nothing "
        f"is trained)\n  full log: {log_file}",
        flush=True,
    )
    started = time.monotonic()
    discovery = init.discover(config)
    print(f"Found in {time.monotonic() - started:.0f} s:\n" + "\n".join(discovery.found_text()))
    if args.update_schema:
        lines, findings = init.update_schema(config, discovery, str(config_path))
    else:
        lines, findings = init.write_proposal(config_path, values, discovery)
    print("\n".join(lines))
    return 1 if findings else 0


def _summary(args: argparse.Namespace) -> int:
    from pipeline import summary

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    config = config_loader.load_config(args.config, args.overrides)
    result = summary.summarize(config)
    print(result.as_json() if args.json else result.as_text())
    return 0


def _report(args: argparse.Namespace) -> int:
    from pipeline import report

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    config = config_loader.load_config(args.config, args.overrides)
    path = os.path.abspath(report.regenerate(config, args.run, args.output_dir))
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(Path(path).as_uri()):
            print(f"error: no web browser to open {path} with", file=sys.stderr)
            return 1
    return 0


def _predict(args: argparse.Namespace) -> int:
    from pipeline import predict

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    predictions = predict.predict_files(predict.load(args.model), args.files, args.top_k)
    for prediction in predictions:
        print(prediction.as_text())
    failed = sum(1 for prediction in predictions if prediction.error)
    if failed:
        print(f"error: {failed} of {len(predictions)} files not classified", file=sys.stderr)
    return 1 if failed else 0


def _demo_data(args: argparse.Namespace) -> int:
    from pipeline import demo_data

    count = demo_data.write_digits(args.out)
    print(f"Demo data: {count} digit images in {os.path.abspath(args.out)}")
    return 0


def _compile(args: argparse.Namespace) -> int:
    _compile_for_kubeflow(config_loader.load_config(args.config, args.overrides), args.output)
    return 0


def _submit(args: argparse.Namespace) -> int:
    config, arguments, path, client, connection = _prepare_submission(args)
    run_name = args.run_name or f"{config.pipeline_name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    print(
        client.submit(
            connection, config.kubeflow, path, config.kubeflow_pipeline_root, arguments, run_name
        ).as_text()
    )
    return 0


def _schedule(args: argparse.Namespace) -> int:
    config, arguments, path, client, connection = _prepare_submission(args)
    submitted = client.schedule(
        connection,
        config.kubeflow,
        path,
        config.kubeflow_pipeline_root,
        arguments,
        name=args.name or config.pipeline_name,
        replace=args.replace,
    )
    if config.kubeflow.backend == "vertex":
        cron = (
            f"{client.vertex_cron(config.kubeflow.schedule)} (Vertex AI cron, UTC; "
            f"kubeflow.schedule {config.kubeflow.schedule!r} without its seconds)"
        )
    else:
        cron = f"{config.kubeflow.schedule} (KFP cron, seconds first)"
    print(f"{submitted.as_text()}\n  schedule: {cron}")
    return 0


def _prepare_submission(args: argparse.Namespace) -> tuple:
    """Config, runtime arguments, compiled spec, the client module of `kubeflow.backend`
    (kubeflow/kfp_client.py or vertex_client.py) and its checked connection, in that order, so that
    mistakes in the command line show before anything is sent."""
    config = config_loader.load_config(args.config, args.overrides)
    arguments = _runtime_arguments(args.params, config)
    path = _compile_for_kubeflow(config, args.output)
    if config.kubeflow.backend == "vertex":
        from pipeline.kubeflow import vertex_client as client
    else:
        from pipeline.kubeflow import kfp_client as client
    return config, arguments, path, client, client.connect(config.kubeflow)


def _compile_for_kubeflow(config: config_lib.PipelineConfig, output: str | None) -> str:
    from pipeline.kubeflow import compiler

    started = time.monotonic()
    compiled = compiler.compile_pipeline(
        config, output or os.path.join("build", f"{config.pipeline_name}.yaml")
    )
    defaults = ", ".join(f"{name}={value}" for name, value in compiled.parameters.items())
    print(
        f"Compiled {config.pipeline_name} for Kubeflow in {time.monotonic() - started:.1f} s: "
        f"{compiled.path}\n  backend: {config.kubeflow.backend}; image: {config.kubeflow.image}; "
        f"pipeline root: {config.kubeflow_pipeline_root}\n"
        f"  runtime parameters (defaults): {defaults}"
    )
    return compiled.path


def _runtime_arguments(params: List[str], config: config_lib.PipelineConfig) -> dict:
    """`--param NAME=VALUE`s, typed, and checked like the config value they replace (the
    epochs against the fine-tuning phases)."""
    arguments = {}
    for param in params:
        name, sep, text = param.partition("=")
        if not sep or name not in nodes.RUNTIME_PARAMETERS:
            raise config_lib.ConfigError(
                f"--param {param!r}: expected NAME=VALUE with NAME one of "
                f"{', '.join(nodes.RUNTIME_PARAMETERS)}"
            )
        value = yaml.safe_load(text) if nodes.RUNTIME_PARAMETERS[name] is int else text
        if not isinstance(value, nodes.RUNTIME_PARAMETERS[name]) or isinstance(value, bool):
            raise config_lib.ConfigError(f"--param {param!r}: expected a whole number")
        arguments[name] = value
    if nodes.EPOCHS_PARAMETER in arguments:
        epochs = arguments[nodes.EPOCHS_PARAMETER]
        try:
            dataclasses.replace(config.trainer, epochs=epochs).validate()
        except config_lib.ConfigError as error:
            raise config_lib.ConfigError(f"--param epochs={epochs}: {error}") from None
    return arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-pipeline", description="TFX image classification pipeline"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--config",
            required=True,
            action="append",
            help="YAML config (see configs/); repeat to layer files, later ones win",
        )
        command.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set trainer.epochs=5 (repeatable)",
        )

    init = commands.add_parser(
        "init",
        help="propose a config and a curated schema for a folder of images (nothing trains)",
    )
    init.add_argument(
        "data_dir",
        nargs="?",
        help="the folder of images, one sub-folder per class (or a manifest's folder)",
    )
    init.add_argument(
        "--config",
        required=True,
        help="config file to write, e.g. configs/pets.yaml (its schema goes beside it, "
        "configs/pets.schema.pbtxt); with --update-schema, the config whose schema to widen",
    )
    init.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value to write as given instead of choosing it, e.g. --set "
        "trainer.weights=none (repeatable)",
    )
    init.add_argument(
        "--update-schema",
        action="store_true",
        help="widen the config's schema to accept the data now in its data.root (new classes, "
        "formats, sizes) instead of writing a new config",
    )
    init.set_defaults(handler=_init)

    run = commands.add_parser("run", help="run the pipeline locally with LocalDagRunner")
    with_config(run)
    run.set_defaults(handler=_run)

    show = commands.add_parser("summary", help="summarise the latest run from ML Metadata")
    with_config(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(handler=_summary)

    report = commands.add_parser(
        "report", help="write the HTML evaluation report of a run (default: the latest)"
    )
    with_config(report)
    report.add_argument("--run", help="run id (see ML Metadata or the run summary)")
    report.add_argument(
        "--output-dir", help="folder for report.html (default: <output_dir>/reports/<run id>)"
    )
    report.add_argument("--open", action="store_true", help="open the report in a web browser")
    report.set_defaults(handler=_report)

    def for_kubeflow(command: argparse.ArgumentParser) -> None:
        with_config(command)
        command.add_argument(
            "--output", help="pipeline spec file to write (default: build/<pipeline_name>.yaml)"
        )

    def with_params(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--param",
            dest="params",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="runtime parameter for the run, e.g. --param epochs=30 (repeatable)",
        )

    compile_ = commands.add_parser(
        "compile", help="compile the pipeline spec for Kubeflow Pipelines (KFP v2)"
    )
    for_kubeflow(compile_)
    compile_.set_defaults(handler=_compile)

    submit = commands.add_parser("submit", help="compile and start one run on Kubeflow")
    for_kubeflow(submit)
    with_params(submit)
    submit.add_argument("--run-name", help="display name (default: pipeline name and time)")
    submit.set_defaults(handler=_submit)

    schedule = commands.add_parser(
        "schedule", help="compile and create a recurring run on kubeflow.schedule"
    )
    for_kubeflow(schedule)
    with_params(schedule)
    schedule.add_argument("--name", help="recurring run name (default: the pipeline name)")
    schedule.add_argument(
        "--replace", action="store_true", help="replace a recurring run of the same name"
    )
    schedule.set_defaults(handler=_schedule)

    predict = commands.add_parser(
        "predict", help="classify image files with a pushed SavedModel or a .tflite file"
    )
    predict.add_argument(
        "--model",
        required=True,
        help="SavedModel version dir, push location (newest version), or .tflite file",
    )
    predict.add_argument("--top-k", type=int, default=3, help="classes to show per file")
    predict.add_argument("files", nargs="+", help="image files")
    predict.set_defaults(handler=_predict)

    demo = commands.add_parser("demo-data", help="write the digits demo data as PNG folders")
    demo.add_argument("--out", default="data/digits", help="folder to write (default: %(default)s)")
    demo.set_defaults(handler=_demo_data)
    return parser


def _terminate(signum: int, frame: object) -> None:
    from pipeline.local_runner import Terminated

    raise Terminated()


def _interrupted(stop: BaseException, argv: List[str]) -> int:
    """One line for an interrupted command: what stopped, and how to resume a run."""
    from pipeline.local_runner import Interrupted, Terminated

    signal_name = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
    where = ""
    if isinstance(stop, Interrupted):
        signal_name = stop.signal_name
        if stop.components:
            where = f" in {', '.join(stop.components)} (marked canceled)"
        if stop.run_id:
            where += f", run {stop.run_id}"
    resume = ""
    if argv and argv[0] == "run":
        resume = f"; resume with: {shlex.join(['image-pipeline', *argv])}"
    print(f"interrupted by {signal_name}{where}{resume}", file=sys.stderr, flush=True)
    return 143 if signal_name == "SIGTERM" else 130


def main(argv: List[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from components.image_example_gen.rows import IngestError
    from pipeline.local_runner import OutputError
    from pipeline.metadata import MetadataError
    from pipeline.predict import PredictError
    from pipeline.report import ReportError
    from pipeline.run_lock import LockedError
    from trainer.model import WeightsError

    known_errors: tuple = (
        config_lib.ConfigError,
        IngestError,
        WeightsError,
        PredictError,
        ReportError,
        LockedError,
        MetadataError,
        OutputError,
    )
    if args.command in _KUBEFLOW_COMMANDS:
        try:
            from pipeline.kubeflow.kfp_client import KfpError
            from pipeline.kubeflow.vertex_client import VertexError
        except ImportError as error:
            print(
                f"error: {args.command} needs the kubeflow extra ({error.name} is missing): "
                "pip install -c constraints.txt -e '.[kubeflow]'",
                file=sys.stderr,
            )
            return 2
        known_errors += (KfpError, VertexError)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.handler(args)
    except known_errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        return _interrupted(stop, argv)


if __name__ == "__main__":
    sys.exit(main())
