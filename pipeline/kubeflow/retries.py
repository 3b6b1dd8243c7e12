"""Retry policies for the tasks that can run for hours, and a resume folder the Trainer's
retry finds.

A pod killed after eleven hours of the Trainer's twelve (pre-empted node, out of memory)
fails the run unless the task has a retry policy (`kubeflow.retries`, on for the Trainer by
default), and a retry that starts from epoch 1 loses those hours. Both backends read
`PipelineTaskSpec.retry_policy`. The open-source backend (kubeflow/pipelines, backend/src/v2)
turns it into an Argo `retryStrategy` on the executor pod's template alone
(compiler/argocompiler/container.go, `addContainerExecutorTemplate`: the policy's values
become template parameters, `getTaskRetryParametersWithValues`, and the strategy is set on
the executor template, `getTaskRetryStrategyFromInput`). The driver is a task of its own
that runs once before it (argocompiler/dag.go, the `-driver` task the executor depends on),
and it writes the whole ExecutorInput into the pod spec patch that the executor template
takes as its input (driver/driver.go, `initPodSpecPatch`: `--executor_input`); so the
retried pod gets the very same ExecutorInput: the same input artifacts (ids, URIs), output
URIs and parameters, and the same ML Metadata execution id.

The Trainer's resume folder is named after exactly that (components/image_trainer/
executor.py, `resume_dir`), but by default it sits in the node folder, which on Kubeflow
belongs to one run and, on open-source KFP, is the pod's local copy of the artifacts
(pipeline/kubeflow/entrypoint.py), gone with the pod. So the Trainer task gets one more
parameter, `resume_root`: `<output_dir>/.resume/<pipeline_name>/Trainer`, in the object
store, which the Trainer writes with tf.io.gfile. It is given whether or not the Trainer is
retried: a run submitted again with the same inputs (its upstream tasks from KFP's cache)
resumes as well. Locally nothing changes: the component has no such property, and the local
runner keeps one run per output folder, whose node folder survives a kill.
"""

from __future__ import annotations

import os

from components.image_trainer.executor import RESUME_ROOT_KEY
from pipeline import nodes
from pipeline.config import PipelineConfig, RetriesConfig
from pipeline.kubeflow import spec as spec_lib


def apply(spec: dict, config: PipelineConfig) -> None:
    """Gives the configured tasks the spec has a retry policy (none with `max_retries` 0),
    and the Trainer its `resume_root`."""
    retries = config.kubeflow.retries
    tasks = spec_lib.tasks(spec)
    if retries.max_retries:
        for name in retries.tasks:
            if name in tasks:
                tasks[name]["retryPolicy"] = retry_policy(retries)
    spec_lib.add_parameter(
        spec, nodes.TRAINER, RESUME_ROOT_KEY, spec_lib.constant(resume_root(config))
    )


def retry_policy(retries: RetriesConfig) -> dict:
    """`PipelineTaskSpec.RetryPolicy` in its JSON form. Argo reads the backoff as whole
    seconds and the factor as a whole number (the backend formats them with `%v`), hence the
    config's types."""
    return {
        "maxRetryCount": retries.max_retries,
        "backoffDuration": f"{retries.backoff_s}s",
        "backoffFactor": float(retries.backoff_factor),
        "backoffMaxDuration": f"{retries.max_duration_s}s",
    }


def resume_root(config: PipelineConfig) -> str:
    """Where the Trainer keeps its resume folders on Kubeflow: under `output_dir`, which every
    pod of every run reads and writes, apart per pipeline."""
    return os.path.join(config.output_dir, ".resume", config.pipeline_name, nodes.TRAINER)
