"""Editing the compiled KFP v2 pipeline spec, in its JSON form (what the YAML file holds).

TFX compiles the DAG's components; what a cluster needs beyond them is added to the spec by
caching.py, report_view.py, retries.py and resources.py, with the helpers here: our own
tasks (containers that run `python -m pipeline.kubeflow.tasks <task>` in the pipeline
image, the same on both backends), and the parameters wired into TFX's tasks.
"""

from __future__ import annotations

import json
from typing import Dict, Iterable, Mapping

TASKS_COMMAND = ["python", "-m", "pipeline.kubeflow.tasks"]
"""The command of our own tasks (pipeline/kubeflow/tasks.py); its first argument names the
task, its second is the ExecutorInput (`{{$}}`)."""

STRING = "STRING"


def tasks(spec: dict) -> Dict[str, dict]:
    """The root DAG's tasks, by name."""
    return spec["root"]["dag"]["tasks"]


def component(spec: dict, task: str) -> dict:
    return spec["components"][tasks(spec)[task]["componentRef"]["name"]]


def executor(spec: dict, task: str) -> dict:
    """The task's executor (`{"container": {...}}`)."""
    return spec["deploymentSpec"]["executors"][component(spec, task)["executorLabel"]]


def image(spec: dict) -> str:
    """The pipeline image, which every TFX task runs in."""
    return next(iter(spec["deploymentSpec"]["executors"].values()))["container"]["image"]


def from_task(producer: str, key: str) -> dict:
    """A task input that is `producer`'s output parameter `key`."""
    return {"taskOutputParameter": {"producerTask": producer, "outputParameterKey": key}}


def artifact_from_task(producer: str, key: str) -> dict:
    """A task input that is `producer`'s output artifact `key`."""
    return {"taskOutputArtifact": {"producerTask": producer, "outputArtifactKey": key}}


def constant(value) -> dict:
    return {"runtimeValue": {"constant": value}}


def add_task(
    spec: dict,
    name: str,
    *,
    parameters: Mapping[str, dict] = {},
    artifacts: Mapping[str, dict] = {},
    artifact_types: Mapping[str, dict] = {},
    output_parameters: Iterable[str] = (),
    output_artifacts: Mapping[str, dict] = {},
    after: Iterable[str] = (),
    cache: bool = True,
) -> None:
    """Adds our task `name` (pipeline/kubeflow/tasks.py) to the root DAG, in the pipeline
    image: `parameters` (STRING inputs, each a task input as `from_task` or `constant` make)
    and `artifacts` (each `artifact_from_task`, typed by `artifact_types`) in; STRING
    `output_parameters` and `output_artifacts` (key -> artifact type) out. `cache` False
    makes it run in every run, as its output must follow what no input shows."""
    if name in spec["components"] or name in tasks(spec):
        raise ValueError(f"the spec already has a component or task named {name}")
    label = f"{name}_executor"
    definitions: dict = {}
    if parameters:
        definitions["parameters"] = {key: {"parameterType": STRING} for key in parameters}
    if artifacts:
        definitions["artifacts"] = {key: {"artifactType": artifact_types[key]} for key in artifacts}
    outputs: dict = {}
    if output_parameters:
        outputs["parameters"] = {key: {"parameterType": STRING} for key in output_parameters}
    if output_artifacts:
        outputs["artifacts"] = {
            key: {"artifactType": kind} for key, kind in output_artifacts.items()
        }
    spec["components"][name] = {
        "executorLabel": label,
        **({"inputDefinitions": definitions} if definitions else {}),
        **({"outputDefinitions": outputs} if outputs else {}),
    }
    spec["deploymentSpec"]["executors"][label] = {
        "container": {"image": image(spec), "command": TASKS_COMMAND, "args": [name, "{{$}}"]}
    }
    producers = {
        given[kind]["producerTask"]
        for given in [*parameters.values(), *artifacts.values()]
        for kind in ("taskOutputParameter", "taskOutputArtifact")
        if kind in given
    }
    inputs: dict = {}
    if parameters:
        inputs["parameters"] = dict(parameters)
    if artifacts:
        inputs["artifacts"] = dict(artifacts)
    tasks(spec)[name] = {
        "taskInfo": {"name": name},
        "componentRef": {"name": name},
        "cachingOptions": {"enableCache": cache} if cache else {},
        **({"inputs": inputs} if inputs else {}),
        **({"dependentTasks": sorted(producers | set(after))} if producers or after else {}),
    }


def add_parameter(spec: dict, task: str, key: str, given: dict) -> None:
    """Gives TFX's task `task` one more STRING input parameter, `key`: declared in its
    component and in the inputs spec its TFX entrypoint reads from the arguments, fed by
    `given` (e.g. `from_task(...)`), with the producer added to its dependencies."""
    definitions = component(spec, task).setdefault("inputDefinitions", {})
    definitions.setdefault("parameters", {})[key] = {"parameterType": STRING}
    args = executor(spec, task)["container"]["args"]
    flag = args.index("--json_serialized_inputs_spec_args")
    inputs_spec = json.loads(args[flag + 1])
    inputs_spec.setdefault("parameters", {})[key] = {"parameterType": STRING}
    args[flag + 1] = json.dumps(inputs_spec, indent=2, sort_keys=True)
    entry = tasks(spec)[task]
    entry.setdefault("inputs", {}).setdefault("parameters", {})[key] = given
    producer = given.get("taskOutputParameter", {}).get("producerTask")
    if producer:
        entry["dependentTasks"] = sorted({*entry.get("dependentTasks", []), producer})
