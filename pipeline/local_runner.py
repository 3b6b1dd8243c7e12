"""Runs the pipeline on this machine with TFX's LocalDagRunner and SQLite ML Metadata.

ML Metadata is attached here, not in `create_pipeline`, because it is this runner's: on
Kubeflow the cluster keeps its own, and the SQLite helper creates the database's folder,
which must not happen when compiling for a cluster.

Around TFX's runner, what an operator relies on (README, "When a run is interrupted"): the
output folder is checked before any work (writable, free space, the database not
damaged); one run at a time holds it (run_lock.py); what an interrupted run left is
cleared first (recovery.py); an interruption names the component it stopped, and a full
disk the folder and the space left.
"""

from __future__ import annotations

import errno
import os
import shutil
from typing import List

from tfx import v1 as tfx

from pipeline import metadata, recovery, run_lock
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_discovery_pipeline, create_pipeline

MIN_FREE_MB = "IMAGE_PIPELINE_MIN_FREE_MB"
"""Environment variable: the free space (MiB) a run needs at its start; default 1024 (the
digits demo writes about 0.4 GB)."""


class OutputError(OSError):
    """The output folder cannot take the run: not writable, or the disk is full."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; `components` were cut short (marked canceled)."""

    def __init__(self, signal_name: str, components: List[str], run_id: str | None):
        super().__init__(signal_name)
        self.signal_name, self.components, self.run_id = signal_name, components, run_id


class Terminated(KeyboardInterrupt):
    """SIGTERM, as a scheduler stops a job: raised by the CLI's handler."""


def run(config: PipelineConfig) -> str:
    """Runs every component in dependency order; cached components are not executed again.
    Returns the run id in ML Metadata."""
    return _run(config, create_pipeline(config))


def discover(config: PipelineConfig) -> str:
    """Runs the DAG's ingestion, statistics and inferred schema only (`image-pipeline init`),
    into the same ML Metadata, where `run` finds them cached."""
    return _run(config, create_discovery_pipeline(config))


def check_output_dir(output_dir: str) -> None:
    """Creates `output_dir` and checks that it takes files and has the free space MIN_FREE_MB
    asks for."""
    try:
        os.makedirs(output_dir, exist_ok=True)
        probe = os.path.join(output_dir, ".write-check")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise OutputError(
            f"{output_dir}: the output folder cannot be written ({error.strerror or error}); "
            "set output_dir to a folder this user can write"
        ) from None
    free_mb = shutil.disk_usage(output_dir).free / 2**20
    needed_mb = float(os.environ.get(MIN_FREE_MB, "1024"))
    if free_mb < needed_mb:
        raise OutputError(
            f"{output_dir}: only {free_mb:.0f} MB free; a run needs at least {needed_mb:.0f} MB "
            f"({MIN_FREE_MB}): free space, or set output_dir to a larger disk"
        )


def _run(config: PipelineConfig, pipeline: tfx.dsl.Pipeline) -> str:
    check_output_dir(config.output_dir)
    with run_lock.holding(config.output_dir):
        metadata.check_database(config.metadata_path)
        recovery.clear(config)
        before = set(_run_ids(config))
        pipeline.metadata_connection_config = (
            tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
        )
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        except KeyboardInterrupt as stop:
            cut_short = recovery.clear(config)
            signal_name = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
            run_id = cut_short[0].run_id if cut_short else _new_run_id(config, before)
            raise Interrupted(signal_name, [c.node_id for c in cut_short], run_id) from None
        except Exception as error:
            if _no_space(error):
                free_mb = shutil.disk_usage(config.output_dir).free / 2**20
                raise OutputError(
                    f"{config.output_dir}: the disk is full ({free_mb:.0f} MB free) and a "
                    f"component could not write its output ({_last_line(error)}); free space, "
                    "or set output_dir to a larger disk, and run the same command again: the "
                    "components that finished are taken from the cache"
                ) from error
            raise
        return _new_run_id(config, before)


def _run_ids(config: PipelineConfig) -> List[str]:
    if not os.path.exists(config.metadata_path):
        return []
    return metadata.run_ids(metadata.open_store(config.metadata_path), config.pipeline_name)


def _new_run_id(config: PipelineConfig, before: set) -> str | None:
    new = [run_id for run_id in _run_ids(config) if run_id not in before]
    return new[-1] if new else None


def _no_space(error: BaseException | None) -> bool:
    """Whether `error`, or one it was raised from, is a write to a full disk."""
    while error is not None:
        if getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _last_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__
