"""ValidationGate's executor: loads the artifacts, asks gate.py, fails or warns.

Only unpacking lives here (split folders, protos); the decisions are in gate.py.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from absl import logging
from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.validation_gate import gate

ANOMALIES_KEY = "anomalies"
STATISTICS_KEY = "statistics"
BASELINE_STATISTICS_KEY = "baseline_statistics"
SCHEMA_KEY = "schema"
MODE_KEY = "on_anomalies"
MAX_DRIFT_KEY = "max_drift"
MAX_SKEW_KEY = "max_skew"

ANOMALIES_FILE = "SchemaDiff.pb"
"""Where ExampleValidator writes each split's anomalies (Split-<name>/SchemaDiff.pb)."""


def load_anomalies(uri: str, split_names: str) -> Dict[str, Any]:
    """ExampleValidator's anomalies by split, from its artifact's uri and `split_names`."""
    return {
        split: anomalies_util.load_anomalies_binary(
            os.path.join(uri, f"Split-{split}", ANOMALIES_FILE)
        )
        for split in artifact_utils.decode_split_names(split_names)
    }


def _load_statistics(artifacts: List[types.Artifact]) -> Dict[str, Any]:
    if not artifacts:
        return {}
    (artifact,) = artifacts
    return {
        split: stats_artifact_utils.load_statistics(artifact, split).proto()
        for split in artifact_utils.decode_split_names(artifact.split_names)
    }


class Executor(base_executor.BaseExecutor):
    """Stops the run (or warns) when the data has anomalies or drifted too far."""

    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        del output_dict  # the gate's outcome is its execution's success or failure
        schema = io_utils.SchemaReader().read(
            io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
        )
        anomalies_artifact = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        anomalies = load_anomalies(anomalies_artifact.uri, anomalies_artifact.split_names)
        findings = gate.schema_findings(anomalies, schema)
        current = _load_statistics(input_dict[STATISTICS_KEY])
        findings += gate.skew_findings(current, schema, json.loads(exec_properties[MAX_SKEW_KEY]))
        baseline = _load_statistics(input_dict.get(BASELINE_STATISTICS_KEY, []))
        if baseline:
            max_drift = json.loads(exec_properties[MAX_DRIFT_KEY])
            findings += gate.drift_findings(current, baseline, schema, max_drift)
        else:
            logging.info("ValidationGate: no previous span to compare with; drift not checked")
        warning = gate.enforce(findings, exec_properties[MODE_KEY])
        if warning:
            logging.warning("ValidationGate: %s", warning)
        else:
            logging.info("ValidationGate: no anomalies; the run goes on")
