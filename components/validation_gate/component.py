"""ValidationGate's spec: anomalies and statistics in, nothing out; its failure is the signal.

Transform is made to depend on this node, so when the gate fails its execution, LocalDagRunner
(and Kubeflow) never start Transform, the Trainer, the Evaluator or the Pusher.
"""

from __future__ import annotations

import json
from typing import Mapping

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.validation_gate import executor
from components.validation_gate.executor import (
    ANOMALIES_KEY,
    BASELINE_STATISTICS_KEY,
    MAX_DRIFT_KEY,
    MAX_SKEW_KEY,
    MODE_KEY,
    SCHEMA_KEY,
    STATISTICS_KEY,
)


class ValidationGateSpec(ComponentSpec):
    """ExampleValidator's anomalies, the run's statistics (both splits, for skew), the previous
    span's (optional, for drift)."""

    PARAMETERS = {
        MODE_KEY: ExecutionParameter(type=str),
        MAX_DRIFT_KEY: ExecutionParameter(type=str),
        MAX_SKEW_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        BASELINE_STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True
        ),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = {}


class ValidationGate(base_component.BaseComponent):
    """Fails its execution, listing the anomalies in plain words, unless told only to warn."""

    SPEC_CLASS = ValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        anomalies: types.BaseChannel,
        statistics: types.BaseChannel,
        schema: types.BaseChannel,
        on_anomalies: str,
        max_drift: Mapping[str, float],
        max_skew: Mapping[str, float],
        baseline_statistics: types.BaseChannel | None = None,
    ):
        super().__init__(
            spec=ValidationGateSpec(
                **{
                    ANOMALIES_KEY: anomalies,
                    STATISTICS_KEY: statistics,
                    BASELINE_STATISTICS_KEY: baseline_statistics,
                    SCHEMA_KEY: schema,
                    MODE_KEY: on_anomalies,
                    MAX_DRIFT_KEY: json.dumps(dict(sorted(max_drift.items()))),
                    MAX_SKEW_KEY: json.dumps(dict(sorted(max_skew.items()))),
                }
            )
        )
