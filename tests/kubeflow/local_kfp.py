"""A stand-in for the open-source Kubeflow Pipelines v2 backend, for tests and
`make kubeflow-check`: executes every task of a compiled spec, each as its own `docker run`
of the pipeline image, as the backend's driver and launcher would. Not an orchestrator we
ship: README, "Run on Kubeflow", says what this proves and what only a cluster proves.

What it follows, from kubeflow/pipelines backend/src/v2 (driver/, component/launcher_v2.go):
- Resolver executors are refused, as the backend's Argo compiler refuses them.
- Tasks run in dependency order. Parameters come from the task's constants, the run's
  parameters (the root's defaults where not given) and upstream tasks' output parameters
  (`taskOutputParameter`, driver/resolve.go:408-420), coerced to the component's declared
  types; defaults of the component's own inputs are added.
- The cache, as the driver decides it (driver/container.go:149-240): a task whose
  `cachingOptions.enableCache` is set gets a key made as `GenerateCacheKey` makes it
  (cacheutils/cache.go:173-229): its input artifacts' names, which are their ML Metadata ids
  (`toRuntimeArtifact`, metadata/converter.go:187), its input parameter values, its outputs'
  spec without URIs, its output parameters' types, the spec's command and arguments as
  written (placeholders unresolved, driver/cache.go:100-103) and the image string; hashed as
  `GenerateFingerPrint` does (sha256 of the JSON, cache.go:151-171). An earlier successful
  execution of the same pipeline with that key gives its outputs, artifacts (same ids and
  URIs) and parameters, and nothing runs (`reuseCachedOutputs`, driver/cache.go:58-80).
  Entries live as long as this `LocalKfp`, as they live in the backend's database.
- A task with a `retryPolicy` is run again with the same ExecutorInput when its container
  fails, up to `maxRetryCount` times: the backend puts an Argo retryStrategy on the
  executor pod's template (compiler/argocompiler/container.go:581-591), so the driver, which
  made the ExecutorInput, is not run again. (Argo's backoff is not waited for.)
- Input artifacts are what upstream tasks recorded, as the driver reads them back from ML
  Metadata: `name` the artifact's id, the object-store `uri`, the metadata the executor
  wrote (numbers as doubles) plus `display_name` and `store_session_info`, and an empty
  instance schema (the type does not survive the round trip).
- Outputs are provisioned at `<root>/<pipeline>/<run id>/<task>/<uuid>/<key>`, with the
  launcher's own `executor-logs` output; the output metadata file is
  `<local path of the task root>/output_metadata.json`; the parents of the outputs' local
  paths are created.
- `{{$}}` and the `{{$.inputs...}}` / `{{$.outputs...}}` placeholders are substituted in the
  spec's command and arguments, which run with no shell, the image's entrypoint replaced
  (a pod's command does that).
- Output parameters are provisioned at `/tmp/kfp/outputs/<name>` (driver/driver.go:786-790);
  after the task, its output file is read: each provisioned output artifact takes its `uri`
  (when not empty) and metadata from it, and output parameters their values (the file has
  priority over the parameter files, `collectOutputParameters`, launcher_v2.go:484-515).
The object store is a local folder mounted where the launcher keeps its local copies
(`/minio/...` for a `minio://` root), so its download before and upload after each task are
the mount itself. The data and output folders are mounted at their own paths.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from pipeline.kubeflow.entrypoint import LAUNCHER_LOGS_OUTPUT
from pipeline.kubeflow.paths import LOCAL_MOUNTS, local_path

LOG_TAIL_LINES = 40


class TaskFailedError(RuntimeError):
    """A task's container exited non-zero; the message names it and shows its log tail."""


@dataclasses.dataclass
class TaskResult:
    name: str
    seconds: float
    outputs: Dict[str, List[dict]]
    log: Path
    parameters: Dict[str, Any] = dataclasses.field(default_factory=dict)
    """Output parameters."""
    cached: bool = False
    """Taken from the cache: nothing ran, `log` is the one of the execution reused."""
    attempts: int = 1


@dataclasses.dataclass
class Run:
    run_id: str
    tasks: Dict[str, TaskResult]
    seconds: float
    """Wall time, from the first task's start to the last one's end."""

    def executed(self) -> List[str]:
        """The tasks that ran (not taken from the cache), in the order they ran."""
        return [name for name, task in self.tasks.items() if not task.cached]


@dataclasses.dataclass(frozen=True)
class Fault:
    """Kills the container of `task` on its first attempt once its log shows `log_line`
    (a pod killed mid-work: a spot node reclaimed, an OOM kill)."""

    task: str
    log_line: str


class LocalKfp:
    """Runs compiled specs in `image`, with the object store in `store_dir` and
    `mounts` (host folders) mounted at their own paths in every task."""

    def __init__(self, image: str, store_dir: Path, mounts: List[Path], log_dir: Path):
        self.image = image
        self.store_dir = Path(store_dir)
        self.mounts = [Path(m) for m in mounts]
        self.log_dir = Path(log_dir)
        self._ids = itertools.count(1)
        self._cache: Dict[str, TaskResult] = {}

    def run(
        self,
        spec: dict,
        parameters: Mapping[str, Any],
        pipeline_root: str,
        fault: Optional[Fault] = None,
    ) -> Run:
        _refuse_resolvers(spec)
        run_id = str(uuid.uuid4())
        root_inputs = root_parameters(spec, parameters)
        tasks: Dict[str, TaskResult] = {}
        started = time.monotonic()
        print(f"kubeflow-check: run {run_id}", flush=True)
        for name in _dag_order(spec["root"]["dag"]["tasks"]):
            component_name = spec["root"]["dag"]["tasks"][name]["componentRef"]["name"]
            executor_input = build_executor_input(
                spec, name, root_inputs, tasks, pipeline_root, run_id
            )
            key = self._cache_key(spec, name, executor_input)
            if key in self._cache:
                tasks[name] = dataclasses.replace(self._cache[key], cached=True, seconds=0.0)
                print(f"kubeflow-check: {name} taken from the cache", flush=True)
                continue
            for output in executor_input["outputs"]["artifacts"].values():
                self.host_path(output["artifacts"][0]["uri"]).parent.mkdir(
                    parents=True, exist_ok=True
                )
            tasks[name] = self._execute(
                spec, name, spec["components"][component_name], executor_input, run_id, fault
            )
            if key:
                self._cache[key] = tasks[name]
        return Run(run_id, tasks, time.monotonic() - started)

    def _cache_key(self, spec: dict, name: str, executor_input: dict) -> str:
        """The task's cache fingerprint as the driver makes it (module docstring), with the
        pipeline's name (the cache is looked up per pipeline, driver/cache.go:139); '' when
        the task's cache is off."""
        task = spec["root"]["dag"]["tasks"][name]
        if not task.get("cachingOptions", {}).get("enableCache"):
            return ""
        component = spec["components"][task["componentRef"]["name"]]
        container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        inputs, outputs = executor_input["inputs"], executor_input["outputs"]
        key = {
            "inputArtifactNames": {
                key: {"artifactNames": [a["name"] for a in listed["artifacts"]]}
                for key, listed in inputs["artifacts"].items()
            },
            "inputParameterValues": inputs["parameterValues"],
            "outputArtifactsSpec": {
                key: {k: v for k, v in listed["artifacts"][0].items() if k != "uri"}
                for key, listed in outputs["artifacts"].items()
            },
            "outputParametersSpec": {
                key: definition["parameterType"]
                for key, definition in component.get("outputDefinitions", {})
                .get("parameters", {})
                .items()
            },
            "containerSpec": {
                "image": container["image"],
                "cmdArgs": [*container.get("command", []), *container.get("args", [])],
            },
        }
        text = json.dumps(key, sort_keys=True, separators=(",", ":"))
        pipeline = spec["pipelineInfo"]["name"]
        return f"pipeline/{pipeline}:{hashlib.sha256(text.encode()).hexdigest()}"

    def _execute(self, spec, name, component, executor_input, run_id, fault) -> TaskResult:
        container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        command = [
            _substitute(part, executor_input)
            for part in [*container.get("command", []), *container.get("args", [])]
        ]
        volumes = [f"{self.store_dir}:{_mount_point(executor_input)}"]
        volumes += [f"{mount}:{mount}" for mount in self.mounts]
        retries = int(
            spec["root"]["dag"]["tasks"][name].get("retryPolicy", {}).get("maxRetryCount", 0)
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for attempt in range(1, retries + 2):
            log = self.log_dir / f"{run_id[:8]}-{name}-{attempt}.log"
            container_name = f"local-kfp-{run_id[:8]}-{name.lower()}-{attempt}"
            docker = ["docker", "run", "--rm", "--name", container_name, "--network", "none"]
            docker += ["--entrypoint", command[0]]
            for volume in volumes:
                docker += ["-v", volume]
            docker += [container["image"], *command[1:]]
            print(f"kubeflow-check: {name} (attempt {attempt}) ...", flush=True)
            kill_on = fault.log_line if fault and fault.task == name and attempt == 1 else None
            status = _run_container(docker, container_name, log, kill_on)
            seconds = time.monotonic() - started
            if status == 0:
                break
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
            failure = (
                f"task {name} failed (exit code {status}) after {seconds:.0f} s; "
                f"last lines of {log}:\n{tail}"
            )
            if attempt > retries:
                raise TaskFailedError(failure)
            print(f"kubeflow-check: {name} attempt {attempt} failed ({status}): retrying")
        print(f"kubeflow-check: {name} done in {seconds:.0f} s", flush=True)
        outputs, parameters = self._record(executor_input)
        return TaskResult(name, seconds, outputs, log, parameters, attempts=attempt)

    def _record(self, executor_input: dict):
        """The provisioned outputs, merged with what the executor wrote, as ML Metadata
        would keep them (each artifact gets an id), and the output parameters."""
        output_file = self._host(executor_input["outputs"]["outputFile"])
        written = json.loads(output_file.read_text()) if output_file.exists() else {}
        parameters = dict(written.get("parameterValues", {}))
        missing = set(executor_input["outputs"].get("parameters", {})) - set(parameters)
        if missing:
            raise TaskFailedError(
                f"output parameters {sorted(missing)} not in {output_file} (the stand-in "
                "reads them from the output file only)"
            )
        recorded = {}
        for key, provisioned in executor_input["outputs"]["artifacts"].items():
            if key == LAUNCHER_LOGS_OUTPUT:
                continue
            artifact = dict(provisioned["artifacts"][0])
            merged = written.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
            artifact["uri"] = merged.get("uri") or artifact["uri"]
            artifact["metadata"] = {**artifact.get("metadata", {}), **merged.get("metadata", {})}
            artifact["id"] = next(self._ids)
            recorded[key] = [artifact]
        return recorded, parameters

    def host_path(self, uri: str) -> Path:
        """Where an artifact of the object store lies on this machine."""
        return self._host(local_path(uri))

    def _host(self, container_path: str) -> Path:
        for mount in LOCAL_MOUNTS.values():
            if container_path.startswith(mount):
                return self.store_dir / container_path[len(mount) :]
        return Path(container_path)


def build_executor_input(
    spec: dict,
    name: str,
    root_inputs: Mapping[str, Any],
    upstream: Mapping[str, TaskResult],
    pipeline_root: str,
    run_id: str,
) -> dict:
    """The ExecutorInput of task `name` as the open-source driver and launcher build it;
    `upstream` holds the tasks done, with their outputs as `LocalKfp` records them."""
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    definitions = component.get("inputDefinitions", {})
    values = {}
    for key, given in task.get("inputs", {}).get("parameters", {}).items():
        if "componentInputParameter" in given:
            values[key] = root_inputs[given["componentInputParameter"]]
        elif "runtimeValue" in given:
            values[key] = given["runtimeValue"]["constant"]
        elif "taskOutputParameter" in given:
            source = given["taskOutputParameter"]
            values[key] = upstream[source["producerTask"]].parameters[source["outputParameterKey"]]
        else:
            raise NotImplementedError(f"{name}.{key}: {given} (not used by this pipeline)")
    for key, definition in definitions.get("parameters", {}).items():
        if key not in values and "defaultValue" in definition:
            values[key] = definition["defaultValue"]
        if key in values:
            values[key] = _coerce(values[key], definition.get("parameterType"), name, key)
    artifacts = {}
    for key, given in task.get("inputs", {}).get("artifacts", {}).items():
        source = given["taskOutputArtifact"]
        produced = upstream[source["producerTask"]].outputs[source["outputArtifactKey"]]
        artifacts[key] = {"artifacts": [_as_read_back(artifact) for artifact in produced]}
    task_root = f"{pipeline_root}/{spec['pipelineInfo']['name']}/{run_id}/{name}/{uuid.uuid4()}"
    outputs = {
        key: {
            "artifacts": [
                {
                    "name": key,
                    "type": definition["artifactType"],
                    "uri": f"{task_root}/{key}",
                    "metadata": {},
                }
            ]
        }
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items()
    }
    outputs[LAUNCHER_LOGS_OUTPUT] = {
        "artifacts": [
            {
                "name": LAUNCHER_LOGS_OUTPUT,
                "type": {"schemaTitle": "system.Artifact"},
                "uri": f"{task_root}/{LAUNCHER_LOGS_OUTPUT}-0",
            }
        ]
    }
    output_parameters = component.get("outputDefinitions", {}).get("parameters", {})
    return {
        "inputs": {"parameterValues": values, "artifacts": artifacts},
        "outputs": {
            "artifacts": outputs,
            **(
                {
                    "parameters": {
                        k: {"outputFile": f"/tmp/kfp/outputs/{k}"} for k in output_parameters
                    }
                }
                if output_parameters
                else {}
            ),
            "outputFile": f"{local_path(task_root)}/output_metadata.json",
        },
    }


def _run_container(docker: List[str], name: str, log: Path, kill_on: Optional[str]) -> int:
    """Runs the `docker run` command with its output in `log`; with `kill_on`, kills the
    container (`docker kill`, SIGKILL) once its log shows that text. Returns the exit code."""
    with open(log, "w") as handle:
        process = subprocess.Popen(docker, stdout=handle, stderr=subprocess.STDOUT)
        while kill_on and process.poll() is None:
            if kill_on in log.read_text(errors="replace"):
                subprocess.run(["docker", "kill", name], capture_output=True)
                print(f"kubeflow-check: killed {name} at '{kill_on}'", flush=True)
                break
            time.sleep(0.5)
        return process.wait()


def _refuse_resolvers(spec: dict) -> None:
    for label, executor in spec["deploymentSpec"]["executors"].items():
        if "resolver" in executor:
            raise TaskFailedError(
                f"{label}: the open-source KFP backend refuses resolver executors "
                "('resolver executors not implemented', backend/src/v2/compiler/argocompiler)"
            )


def root_parameters(spec: dict, given: Mapping[str, Any]) -> Dict[str, Any]:
    definitions = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    unknown = set(given) - set(definitions)
    if unknown:
        raise ValueError(
            f"unknown run parameters {sorted(unknown)}; the spec has {sorted(definitions)}"
        )
    values = {}
    for name, definition in definitions.items():
        if name in given:
            values[name] = given[name]
        elif "defaultValue" in definition:
            values[name] = definition["defaultValue"]
        else:
            raise ValueError(f"run parameter {name}: not given and the spec has no default")
    return values


def _dag_order(tasks: Dict[str, dict]) -> List[str]:
    def upstream(task: dict) -> set:
        producers = {
            a["taskOutputArtifact"]["producerTask"]
            for a in task.get("inputs", {}).get("artifacts", {}).values()
        }
        return producers | set(task.get("dependentTasks", []))

    order: List[str] = []
    pending = dict(tasks)
    while pending:
        ready = sorted(n for n, t in pending.items() if upstream(t) <= set(order))
        if not ready:
            raise ValueError(f"the DAG has a cycle or a missing task among {sorted(pending)}")
        order += ready
        for name in ready:
            del pending[name]
    return order


def _coerce(value: Any, parameter_type: str | None, task: str, key: str) -> Any:
    """The driver's type check: a STRING input takes any value as its JSON text."""
    if parameter_type == "STRING" and not isinstance(value, str):
        return json.dumps(value)
    if parameter_type in ("NUMBER_INTEGER", "NUMBER_DOUBLE"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TaskFailedError(f"{task}.{key}: expected a number, got {value!r}")
        return float(value)
    return value


def _as_read_back(artifact: dict) -> dict:
    metadata = {
        k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        for k, v in artifact.get("metadata", {}).items()
    }
    metadata["display_name"] = artifact["name"]
    metadata["store_session_info"] = json.dumps({"Provider": "minio", "Params": {}})
    return {
        "name": str(artifact["id"]),
        "uri": artifact["uri"],
        "metadata": metadata,
        "type": {"instanceSchema": ""},
    }


def _substitute(text: str, executor_input: dict) -> str:
    inputs, outputs = executor_input["inputs"], executor_input["outputs"]
    text = text.replace("{{$}}", json.dumps(executor_input))
    for key, value in inputs["parameterValues"].items():
        shown = value if isinstance(value, str) else json.dumps(value)
        if isinstance(value, float) and value.is_integer():
            shown = str(int(value))
        text = text.replace(f"{{{{$.inputs.parameters['{key}']}}}}", shown)
    for side, artifacts in (("inputs", inputs["artifacts"]), ("outputs", outputs["artifacts"])):
        for key, artifact_list in artifacts.items():
            uri = artifact_list["artifacts"][0]["uri"]
            text = text.replace(f"{{{{$.{side}.artifacts['{key}'].uri}}}}", uri)
            text = text.replace(f"{{{{$.{side}.artifacts['{key}'].path}}}}", local_path(uri))
    return text


def _mount_point(executor_input: dict) -> str:
    """The launcher's local root of the object store: /minio, /gcs or /s3."""
    output_file = executor_input["outputs"]["outputFile"]
    for mount in LOCAL_MOUNTS.values():
        if output_file.startswith(mount):
            return mount.rstrip("/")
    raise ValueError(f"{output_file}: the pipeline root is not in an object store KFP knows")
