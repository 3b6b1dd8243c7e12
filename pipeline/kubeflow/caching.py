"""KFP's cache, made to follow the data, the code and the baseline (spec edits at compile).

Both backends take a task from the cache when its key matches an earlier execution's: on
the open-source backend the key is the task's input artifacts' ML Metadata ids, its input
parameter values, its outputs' spec, its command and arguments and the image *string*
(`GenerateCacheKey`, backend/src/v2/cacheutils/cache.go:173-229, from the driver's
`getFingerPrint`, backend/src/v2/driver/cache.go:87-130). TFX's compiled spec gives that key
nothing that changes when it should:

- ImageExampleGen has no input artifact, and its parameters name the data root, not what
  is in it: a nightly run on a fixed `data_root` would reuse the first night's Examples
  forever (Vertex runs ExampleGen's `preCacheCheck` first; the open-source backend never
  does).
- A new image pushed under the same tag, or a schema changed in it (ImportSchemaGen's
  `schema_file` is a path), keeps every key.
- The baseline task reads the serving folder; uncached, it makes a new Model artifact every
  run, so the Evaluator and everything after it ran again every night.

So the spec gets two small uncached tasks of ours (pipeline/kubeflow/tasks.py) that only
produce parameters, and the keys of the tasks that start the DAG take them:

- `CacheFingerprints` (fingerprints.py) lists the data root as ImageExampleGen's driver
  does (every file's path, size and modification time) and digests the code in the image
  (our packages, the installed distributions' versions, the schema file): ImageExampleGen's
  `cache_fingerprint` is the data's and the code's, ImportSchemaGen's the code's. Every
  other task descends from those two, so new data or a new image re-runs the DAG from
  ingestion, and a run with neither is taken from the cache whole. (A code fingerprint
  rather than compiling the image by digest: it needs no registry at compile, holds for a
  tag pushed again after the spec was uploaded, and covers exactly what the pod runs.)
- `BaselineLookup` (baseline.py) names the pushed version that is the baseline: the newest
  one that is not the candidate (as the local runner's "latest blessed model other than the
  candidate"), or '' for none; LatestBlessedModel, now cached, copies it. A run with the
  same candidate and the same baseline gets LatestBlessedModel's earlier artifact, so the
  Evaluator's key, and everything after it, is unchanged.

Their parameters are exec properties TFX's executors do not read: they exist for the key.
"""

from __future__ import annotations

from pipeline import nodes
from pipeline.config import PipelineConfig
from pipeline.kubeflow import spec as spec_lib

FINGERPRINT_TASK = "CacheFingerprints"
DATA_FINGERPRINT = "data"
CODE_FINGERPRINT = "code"
CACHE_FINGERPRINT_PARAMETER = "cache_fingerprint"
"""The parameter ImageExampleGen and ImportSchemaGen get, for their cache keys only."""

LOOKUP_TASK = "BaselineLookup"
CANDIDATE = "candidate"
SERVING_DIR = "serving_dir"
BASELINE_VERSION = "version"
"""BaselineLookup's output and LatestBlessedModel's parameter: the version folder to copy."""

FINGERPRINT_INPUTS = ("input_base", "input_config", "schema_file")


def apply(spec: dict, config: PipelineConfig) -> None:
    """Adds CacheFingerprints and, where the DAG has a baseline, BaselineLookup (above)."""
    tasks = spec_lib.tasks(spec)
    example_gen = tasks[nodes.EXAMPLE_GEN]["inputs"]["parameters"]
    schema_gen = tasks[nodes.IMPORT_SCHEMA_GEN]["inputs"]["parameters"]
    spec_lib.add_task(
        spec,
        FINGERPRINT_TASK,
        parameters={
            "input_base": example_gen["input_base"],
            "input_config": example_gen["input_config"],
            "schema_file": schema_gen["schema_file"],
        },
        output_parameters=(DATA_FINGERPRINT, CODE_FINGERPRINT),
        cache=False,
    )
    for task, key in (
        (nodes.EXAMPLE_GEN, DATA_FINGERPRINT),
        (nodes.IMPORT_SCHEMA_GEN, CODE_FINGERPRINT),
    ):
        spec_lib.add_parameter(
            spec, task, CACHE_FINGERPRINT_PARAMETER, spec_lib.from_task(FINGERPRINT_TASK, key)
        )
    if nodes.BASELINE in tasks:
        _add_baseline_lookup(spec)


def _add_baseline_lookup(spec: dict) -> None:
    """BaselineLookup before LatestBlessedModel, given the Trainer's model when the baseline
    comes after it (evaluation); before the Trainer (warm start) there is no candidate."""
    baseline = spec_lib.tasks(spec)[nodes.BASELINE]
    after_trainer = nodes.TRAINER in baseline.get("dependentTasks", [])
    candidate = {}
    candidate_type = {}
    if after_trainer:
        candidate = {CANDIDATE: spec_lib.artifact_from_task(nodes.TRAINER, "model")}
        trainer_outputs = spec_lib.component(spec, nodes.TRAINER)["outputDefinitions"]
        candidate_type = {CANDIDATE: trainer_outputs["artifacts"]["model"]["artifactType"]}
    spec_lib.add_task(
        spec,
        LOOKUP_TASK,
        parameters={SERVING_DIR: baseline["inputs"]["parameters"][SERVING_DIR]},
        artifacts=candidate,
        artifact_types=candidate_type,
        output_parameters=(BASELINE_VERSION,),
        cache=False,
    )
    spec_lib.add_parameter(
        spec, nodes.BASELINE, BASELINE_VERSION, spec_lib.from_task(LOOKUP_TASK, BASELINE_VERSION)
    )
    baseline["cachingOptions"] = {"enableCache": True}
