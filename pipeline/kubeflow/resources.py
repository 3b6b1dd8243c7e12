"""Pods that fit: every task's CPU and memory requests and limits, GPUs, node selector and
Beam worker count, written into the compiled spec (run last, so that it covers the tasks the
other modules add with `spec.add_task` as well as TFX's).

TFX's `with_platform_config` set limits only, on TFX components other than ExampleGen.
Given limits alone, Kubernetes makes the requests equal to them, so a Trainer limited to 8
CPUs and 32 GB waited for a node with that much free. Here each executor's ResourceSpec gets
all four fields: `DEFAULTS` below, with `components.<id>.resources` over it (pipeline/config.py
`ResourcesConfig`). What is configured wins, and the table fills in the rest, bent to fit it:
a default request is lowered to a configured limit, a default limit raised to a configured
request.

How the open-source backend reads the spec (kubeflow/pipelines, backend/src/v2/):
- driver/driver.go:350-405: cpuLimit, cpuRequest, memoryLimit and memoryRequest each become
  the pod's limit or request when not 0, through `getPodResource` (driver.go:175-199): CPUs as
  given, memory as `<n>G` (decimal gigabytes, so memory_gb: 16 is 16G).
- driver.go:407-438: the accelerator's `type` becomes the name of a resource limit, `count`
  its quantity, so on open-source Kubeflow `gpu_type` is a Kubernetes resource name
  (`nvidia.com/gpu`); Vertex AI reads the same field as a machine's accelerator
  (`NVIDIA_TESLA_T4`). Each backend refuses the other's form here, at compile.
- Node selectors are not in the pipeline spec. The API server takes a second YAML document, a
  PlatformSpec with `platforms.kubernetes` (apiserver/template/v2_template.go:199-262, :138);
  the compiler hands its `deploymentSpec.executors.<executor label>` to the task as its
  KubernetesExecutorConfig (compiler/visitor.go:111-121), whose `nodeSelector.labels` become
  the pod's nodeSelector (driver/k8s.go:195-223). It is the file kfp's own compiler writes, a
  second document only when there is something in it (kfp 2.5.0
  compiler/pipeline_spec_builder.py:1961-1983), and the one kfp's client reads back and
  submits (client/client.py:1638-1652, :63-75). Vertex AI has no node selectors (it picks a
  machine by its accelerator) and aiplatform reads a single document (yaml.safe_load,
  google/cloud/aiplatform/utils/yaml_utils.py:118): a node selector with
  `kubeflow.backend: vertex` is refused.

Beam's worker count: `--direct_num_workers=0` starts `multiprocessing.cpu_count()` workers
(apache_beam 2.59 runners/portability/fn_api_runner/fn_runner.py:163-166), the node's cores,
not the pod's limit, and each worker imports TensorFlow: on a large node Transform or the
Evaluator was OOM-killed. So in the executors of Beam components (TFX executors that are
`BaseBeamExecutor`s) that run Beam's DirectRunner, a worker count of 0, or none with the
multi_processing or multi_threading mode, becomes the pod's CPU limit (whole CPUs, at least
one). At compile rather than read from the cgroup at run time: the count is visible in the
spec, and Vertex runs TFX's entrypoint as compiled, not ours (compiler.ENTRYPOINTS), so only a
spec edit reaches both backends. Other runners (Dataflow, Flink, Spark) ignore the flag, and
an explicit count is kept.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.utils import import_utils

from pipeline import nodes
from pipeline.config import ConfigError, PipelineConfig, ResourcesConfig
from pipeline.kubeflow import spec as spec_lib


@dataclasses.dataclass(frozen=True)
class Pod:
    """A task's CPUs and memory (GB): what the scheduler reserves, and the most it may use."""

    cpu_request: float
    cpu: float
    memory_gb_request: float
    memory_gb: float


LIGHT = Pod(cpu_request=0.5, cpu=1, memory_gb_request=2, memory_gb=4)
"""Every task not in `DEFAULTS`: TFX's light components and the tasks of ours other modules
add. Each still imports TensorFlow, TFX and TFMA (0.9 GB resident here), hence 2 GB
reserved and room for 4."""

DEFAULTS: Dict[str, Pod] = {
    nodes.EXAMPLE_GEN: Pod(cpu_request=1, cpu=4, memory_gb_request=4, memory_gb=16),
    nodes.STATISTICS_GEN: Pod(cpu_request=1, cpu=4, memory_gb_request=4, memory_gb=16),
    nodes.TRANSFORM: Pod(cpu_request=2, cpu=4, memory_gb_request=8, memory_gb=16),
    nodes.TUNER: Pod(cpu_request=4, cpu=8, memory_gb_request=16, memory_gb=32),
    nodes.TRAINER: Pod(cpu_request=4, cpu=8, memory_gb_request=16, memory_gb=32),
    nodes.EVALUATOR: Pod(cpu_request=2, cpu=4, memory_gb_request=8, memory_gb=16),
    nodes.TFLITE_PUSHER: Pod(cpu_request=2, cpu=4, memory_gb_request=8, memory_gb=16),
}
"""Per task: the Beam components get a CPU limit of 4 (so 4 DirectRunner workers, 4 GB each);
the Trainer and Tuner train; the TFLite pusher converts, calibrates and may fine-tune
(quantization-aware training). Requests are a half or a quarter of the limits, so that a pod
starts on a node with that much free and bursts when the node has more."""

KUBERNETES = "kubernetes"
WORKERS = "--direct_num_workers"
RUNNING_MODE = "--direct_running_mode"
RUNNER = "--runner"
EXECUTOR_CLASS = "--executor_class_path"


def apply(spec: dict, config: PipelineConfig) -> dict:
    """Sets every task's resources (and its Beam worker count) in `spec`; returns the
    PlatformSpec (JSON form) of the file's second document, {} when no task has a node
    selector (what the backend cannot take is refused before, by `check`)."""
    selectors = {}
    for task in spec_lib.tasks(spec):
        settings = config.components.get(task)
        resources = settings.resources if settings else ResourcesConfig()
        pod = pod_for(task, resources)
        container = spec_lib.executor(spec, task)["container"]
        container["resources"] = _resource_spec(pod, resources)
        _set_workers(container, pod)
        if resources.node_selector:
            label = spec_lib.component(spec, task)["executorLabel"]
            selectors[label] = {"nodeSelector": {"labels": dict(resources.node_selector)}}
    if not selectors:
        return {}
    return {"platforms": {KUBERNETES: {"deploymentSpec": {"executors": selectors}}}}


def pod_for(task: str, resources: ResourcesConfig) -> Pod:
    """The task's pod: what `resources` sets, the rest from `DEFAULTS` (or `LIGHT`), lowered
    to a configured limit or raised to a configured request."""
    default = DEFAULTS.get(task, LIGHT)
    cpu_request = resources.cpu_request or min(default.cpu_request, resources.cpu or float("inf"))
    memory_gb_request = resources.memory_gb_request or min(
        default.memory_gb_request, resources.memory_gb or float("inf")
    )
    return Pod(
        cpu_request=cpu_request,
        cpu=resources.cpu or max(default.cpu, cpu_request),
        memory_gb_request=memory_gb_request,
        memory_gb=resources.memory_gb or max(default.memory_gb, memory_gb_request),
    )


def check(config: PipelineConfig) -> None:
    """Refuses what the backend cannot do with the configured resources (a node selector
    on Vertex, the other backend's accelerator name), before the slow compile."""
    for name, settings in config.components.items():
        _check(f"components.{name}.resources", settings.resources, config.kubeflow.backend)


def _check(key: str, resources: ResourcesConfig, backend: str) -> None:
    if resources.node_selector and backend == "vertex":
        raise ConfigError(
            f"{key}.node_selector: Vertex AI Pipelines has no node selectors (it picks each "
            "task's machine by its cpu, memory_gb and gpu_type); remove it, or use "
            "kubeflow.backend: kfp"
        )
    if not resources.gpu:
        return
    kubernetes_name = "/" in resources.gpu_type
    if backend == "kfp" and not kubernetes_name:
        raise ConfigError(
            f"{key}.gpu_type: {resources.gpu_type!r} is not a Kubernetes resource name; on "
            "open-source Kubeflow it is the GPU's resource (e.g. nvidia.com/gpu), and "
            f"{key}.node_selector picks the GPU model"
        )
    if backend == "vertex" and kubernetes_name:
        raise ConfigError(
            f"{key}.gpu_type: {resources.gpu_type!r} is a Kubernetes resource name; Vertex AI "
            "takes its accelerator type (e.g. NVIDIA_TESLA_T4, NVIDIA_L4)"
        )


def _resource_spec(pod: Pod, resources: ResourcesConfig) -> dict:
    """The container's ResourceSpec, in its JSON form (int64 `count` as a string)."""
    spec: dict = {
        "cpuRequest": float(pod.cpu_request),
        "cpuLimit": float(pod.cpu),
        "memoryRequest": float(pod.memory_gb_request),
        "memoryLimit": float(pod.memory_gb),
    }
    if resources.gpu:
        spec["accelerator"] = {"type": resources.gpu_type, "count": str(resources.gpu)}
    return spec


def _set_workers(container: dict, pod: Pod) -> None:
    """Beam's DirectRunner workers in a Beam component's container: the pod's whole CPUs,
    where the args ask for one per core (0) or leave the count to a parallel mode."""
    args = container.get("args", [])
    _, executor_class = _last(args, EXECUTOR_CLASS)
    if not executor_class or not issubclass(
        import_utils.import_class_by_path(executor_class), BaseBeamExecutor
    ):
        return
    _, runner = _last(args, RUNNER)
    if (runner or "DirectRunner").lower().removesuffix("runner") != "direct":
        return
    index, workers = _last(args, WORKERS)
    _, mode = _last(args, RUNNING_MODE)
    if workers != "0" and not (workers is None and mode in ("multi_processing", "multi_threading")):
        return
    count = str(max(1, int(pod.cpu)))
    if index is None:
        args.append(f"{WORKERS}={count}")
    elif args[index].startswith(f"{WORKERS}="):
        args[index] = f"{WORKERS}={count}"
    else:
        args[index] = count


def _last(args: List[str], flag: str) -> Tuple[Optional[int], Optional[str]]:
    """The index of the token holding `flag`'s value and the value, as argparse takes it (the
    last one given, as `--flag=value` or `--flag value`), or (None, None)."""
    found: Tuple[Optional[int], Optional[str]] = (None, None)
    for index, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            found = (index, arg[len(flag) + 1 :])
        elif arg == flag and index + 1 < len(args):
            found = (index + 1, args[index + 1])
    return found
