"""Reading a pipeline's runs back from ML Metadata: what ran, what was cached, what it made.

The run summary and the tests ask the same questions ("did every component run?", "what
did the Evaluator decide?"), and the answers live in ML Metadata, not in log lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
from typing import Dict, List

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


@dataclasses.dataclass(frozen=True)
class NodeRun:
    """One component's execution in one pipeline run."""

    node_id: str
    state: str
    outputs: Dict[str, List[metadata_store_pb2.Artifact]]
    inputs: Dict[str, List[metadata_store_pb2.Artifact]]
    """What the execution read, by input key (one artifact read under two keys is recorded
    under one of them only)."""
    seconds: float = 0.0
    """From the execution's registration to its last update (its publication, when done)."""

    def output(self, key: str) -> metadata_store_pb2.Artifact:
        """The single artifact published under `key`."""
        (artifact,) = self.outputs[key]
        return artifact


def output_of(
    node_runs: Dict[str, NodeRun], node_id: str, key: str
) -> metadata_store_pb2.Artifact | None:
    """The node's single `key` output in a run, or None when the node did not run (or not
    that far: a failed or stopped run) or published no such output."""
    node_run = node_runs.get(node_id)
    return node_run.output(key) if node_run and key in node_run.outputs else None


def split_names(artifact: metadata_store_pb2.Artifact) -> List[str]:
    """The splits of an Examples or ExampleStatistics artifact, as TFX records them."""
    return json.loads(artifact.properties["split_names"].string_value)


class MetadataError(RuntimeError):
    """The ML Metadata database is missing or damaged."""


def check_database(metadata_path: str) -> None:
    """Raises MetadataError, naming the file and what to do, when the SQLite database at
    `metadata_path` is damaged (a missing file is a new database: nothing to check)."""
    if not os.path.exists(metadata_path):
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{metadata_path}?mode=ro", uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems != ["ok"]:
        raise MetadataError(
            f"{metadata_path}: the ML Metadata database is damaged ({'; '.join(problems[:3])}); "
            "restore it from a backup, or set output_dir to a new folder (a run there starts "
            "from scratch, with no baseline to compare with)"
        )


def open_store(metadata_path: str, writable: bool = False) -> metadata_store.MetadataStore:
    """The pipeline's ML Metadata, read-only unless `writable`; checked first."""
    if not writable and not os.path.exists(metadata_path):
        raise MetadataError(f"{metadata_path}: no ML Metadata yet; the pipeline has not run here")
    check_database(metadata_path)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        if writable
        else metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    )
    return metadata_store.MetadataStore(config)


def run_ids(store: metadata_store.MetadataStore, pipeline_name: str) -> List[str]:
    """The pipeline's run ids, oldest first."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    runs = {}
    for execution in store.get_executions_by_context(pipeline.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type == "pipeline_run":
                runs[context.id] = context
    ordered = sorted(runs.values(), key=lambda c: (c.create_time_since_epoch, c.id))
    return [context.name for context in ordered]


def node_runs(
    store: metadata_store.MetadataStore, pipeline_name: str, run_id: str
) -> Dict[str, NodeRun]:
    """Every component execution of one run, by node id."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run is None:
        raise KeyError(f"no run {run_id!r} of pipeline {pipeline_name!r} in ML Metadata")
    prefix = f"{pipeline_name}."
    result = {}
    for execution in store.get_executions_by_context(run.id):
        node_contexts = [
            context
            for context in store.get_contexts_by_execution(execution.id)
            if context.type == "node" and context.name.startswith(prefix)
        ]
        if not node_contexts:
            continue
        outputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
        inputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
        events = [
            event
            for event in store.get_events_by_execution_ids([execution.id])
            if event.type in _OUTPUT_EVENTS + _INPUT_EVENTS
        ]
        artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        for event in events:
            key = event.path.steps[0].key if event.path.steps else ""
            target = outputs if event.type in _OUTPUT_EVENTS else inputs
            target.setdefault(key, []).append(artifacts[event.artifact_id])
        node_id = node_contexts[0].name[len(prefix) :]
        result[node_id] = NodeRun(
            node_id,
            _STATES.get(execution.last_known_state, "unknown"),
            outputs,
            inputs,
            (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000,
        )
    return result


def latest_run(metadata_path: str, pipeline_name: str) -> Dict[str, NodeRun]:
    """The component executions of the pipeline's most recent run."""
    store = open_store(metadata_path)
    ids = run_ids(store, pipeline_name)
    if not ids:
        raise KeyError(f"no run of pipeline {pipeline_name!r} in {metadata_path}")
    return node_runs(store, pipeline_name, ids[-1])
