"""Runs the pipeline on this machine with TFX's LocalDagRunner and SQLite ML Metadata.

ML Metadata is attached here, not in `create_pipeline`, because it is this runner's: on
Kubeflow the cluster keeps its own, and the SQLite helper creates the database's folder,
which must not happen when compiling for a cluster.
"""

from __future__ import annotations

import os

from tfx import v1 as tfx

from pipeline.config import PipelineConfig
from pipeline.pipeline import create_discovery_pipeline, create_pipeline


def run(config: PipelineConfig) -> None:
    """Runs every component in dependency order; cached components are not executed again."""
    _run(config, create_pipeline(config))


def discover(config: PipelineConfig) -> None:
    """Runs the DAG's ingestion, statistics and inferred schema only (`image-pipeline init`),
    into the same ML Metadata, where `run` finds them cached."""
    _run(config, create_discovery_pipeline(config))


def _run(config: PipelineConfig, pipeline: tfx.dsl.Pipeline) -> None:
    os.makedirs(config.output_dir, exist_ok=True)
    pipeline.metadata_connection_config = (
        tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
