"""What an interrupted run left behind, found and cleared before the next run starts.

A run killed with SIGKILL (an out-of-memory kill, a pre-empted machine) leaves its current
component's execution RUNNING in ML Metadata and its half-written output folders on disk.
TFX never reads them (a new execution writes new folders, and only complete executions
are cached), but they mislead: `summary` would show a run still going, and the folders
take space for good. So, with the run lock held (no run can be live), the next start marks
such executions CANCELED, removes their folders, and removes staging folders of pushes
that died half way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List

import tensorflow as tf
from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.portable import outputs_utils

from components import publish
from pipeline import metadata
from pipeline.config import PipelineConfig

_UNFINISHED = (metadata_store_pb2.Execution.RUNNING, metadata_store_pb2.Execution.NEW)


@dataclasses.dataclass(frozen=True)
class Unfinished:
    """A component execution that never ended: its process was killed or interrupted."""

    node_id: str
    execution_id: int
    run_id: str


def unfinished(store, pipeline_name: str) -> List[Unfinished]:
    """The pipeline's executions that are still RUNNING (or NEW) in ML Metadata."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    found = []
    for execution in store.get_executions_by_context(pipeline.id):
        if execution.last_known_state not in _UNFINISHED:
            continue
        contexts = store.get_contexts_by_execution(execution.id)
        node = [c.name for c in contexts if c.type == "node"]
        run = [c.name for c in contexts if c.type == "pipeline_run"]
        if node:
            found.append(
                Unfinished(
                    node[0][len(pipeline_name) + 1 :], execution.id, run[0] if run else "unknown"
                )
            )
    return found


def clear(config: PipelineConfig) -> List[Unfinished]:
    """Marks the unfinished executions CANCELED and removes what they and killed pushes
    wrote. Only to be called while holding the run lock."""
    for base_directory in (config.serving_dir, config.tflite_dir):
        publish.remove_leftover_staging(base_directory)
    if not os.path.exists(config.metadata_path):
        return []
    store = metadata.open_store(config.metadata_path, writable=True)
    found = unfinished(store, config.pipeline_name)
    for item in found:
        (execution,) = store.get_executions_by_id([item.execution_id])
        for folder in _folders(config.pipeline_root, item, execution):
            logging.info("Removing %s, written by the interrupted %s", folder, item.node_id)
            tf.io.gfile.rmtree(folder)
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        store.put_executions([execution])
        logging.info(
            "%s (execution %d of run %s) did not finish: marked canceled; it runs again",
            item.node_id,
            item.execution_id,
            item.run_id,
        )
    return found


def _folders(pipeline_root: str, item: Unfinished, execution) -> List[str]:
    """Where TFX's launcher put the execution's outputs and working files."""
    node_dir = os.path.join(pipeline_root, item.node_id)
    if not tf.io.gfile.isdir(node_dir):
        return []
    candidates = [
        os.path.join(node_dir, key.rstrip("/"), str(item.execution_id))
        for key in tf.io.gfile.listdir(node_dir)
    ]
    candidates.append(
        os.path.join(node_dir, ".system", "executor_execution", str(item.execution_id))
    )
    index = outputs_utils.get_stateful_working_dir_index(execution)  # a new one if none
    candidates.append(os.path.join(node_dir, ".system", "stateful_working_dir", index))
    return [folder for folder in candidates if tf.io.gfile.isdir(folder)]
