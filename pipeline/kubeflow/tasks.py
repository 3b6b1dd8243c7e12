"""The command of our own tasks in the compiled spec (spec.add_task), on both backends:

    python -m pipeline.kubeflow.tasks TASK EXECUTOR_INPUT_JSON

These are not TFX components: each reads its inputs from the ExecutorInput the backend
gives (`{{$}}`), artifacts at the local paths where the launcher downloads them (`/gcs/...`,
`/s3/...`, `/minio/...`; Vertex mounts gs:// at `/gcs/`), writes its output artifacts at
their local paths and returns its output parameters, which go into the ExecutorOutput file
(`parameterValues`), where the open-source launcher (`collectOutputParameters`,
backend/src/v2/component/launcher_v2.go) and Vertex read them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Callable, Dict, List

from pipeline.kubeflow.paths import local_path


@dataclasses.dataclass(frozen=True)
class TaskIO:
    """One task's inputs and outputs: parameter values, and each artifact's local path."""

    parameters: Dict[str, str]
    inputs: Dict[str, str]
    outputs: Dict[str, str]


Task = Callable[[TaskIO], Dict[str, str]]


def _tasks() -> Dict[str, Task]:
    from pipeline.kubeflow import baseline, fingerprints, report_view

    return {
        fingerprints.TASK: fingerprints.run,
        baseline.TASK: baseline.run,
        report_view.TASK: report_view.run,
    }


def task_io(executor_input: dict) -> TaskIO:
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {}).get("artifacts", {})

    def first_paths(artifacts: dict) -> Dict[str, str]:
        return {
            key: local_path(listed["artifacts"][0]["uri"])
            for key, listed in artifacts.items()
            if listed.get("artifacts")
        }

    return TaskIO(
        parameters=dict(inputs.get("parameterValues", {})),
        inputs=first_paths(inputs.get("artifacts", {})),
        outputs=first_paths(outputs),
    )


def main(argv: List[str]) -> int:
    tasks = _tasks()
    if len(argv) != 3 or argv[1] not in tasks:
        print(
            f"usage: {argv[0]} {{{','.join(sorted(tasks))}}} EXECUTOR_INPUT_JSON", file=sys.stderr
        )
        return 2
    name, executor_input = argv[1], json.loads(argv[2])
    started = time.monotonic()
    io = task_io(executor_input)
    for path in io.outputs.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    values = tasks[name](io)
    output_file = local_path(executor_input["outputs"]["outputFile"])
    os.makedirs(os.path.dirname(output_file), exist_ok=True)
    with open(output_file, "w") as handle:
        json.dump({"parameterValues": values}, handle)
    shown = ", ".join(f"{key}={value!r}" for key, value in values.items())
    print(f"{name}: done in {time.monotonic() - started:.1f} s; {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
