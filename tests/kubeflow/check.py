"""`make kubeflow-check`: the pipeline compiled for open-source KFP v2 and every task of the
spec executed in the pipeline image by the stand-in backend (local_kfp.py), on a digits
subset, to a blessed model pushed in TF Serving layout and TFLite models.

    python -m tests.kubeflow.check --image image-pipeline:dev [--work-dir DIR] [--epochs N]

Exits 1 naming the task that failed, with its log tail, or what is missing at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import List

import yaml

from pipeline import config as config_lib
from pipeline import config_loader, demo_data, nodes
from pipeline.kubeflow import compiler
from tests.kubeflow.local_kfp import LocalKfp, Run, TaskFailedError

REPO = Path(__file__).resolve().parents[2]
PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
"""The open-source backend's default pipeline root (its launcher's config map)."""
IMAGE_SCHEMA = "/pipeline/schema/digits.pbtxt"
"""The curated schema as the image ships it (Dockerfile)."""


@dataclasses.dataclass
class Check:
    config: config_lib.PipelineConfig
    backend: LocalKfp
    run: Run
    spec: dict


def config_for(work_dir: Path, image: str, data_root: Path) -> config_lib.PipelineConfig:
    """The demo's settings, small, compiled for open-source KFP with the artifacts in a
    minio:// root and the pushed models in `work_dir/output`, mounted in every task."""
    return config_loader.load_config(
        [REPO / "configs" / "demo.yaml"],
        [
            "pipeline_name=kubeflow-check",
            f"output_dir={work_dir / 'output'}",
            f"data.root={data_root}",
            f"schema_file={IMAGE_SCHEMA}",
            "trainer.batch_size=16",
            "evaluation.min_accuracy=0.6",
            "tflite.conversions=[dynamic_range]",
            # Proves the TFLite task runs in its container and ships; not quantisation quality
            # on ~33 eval images, where one flipped image is a 3-point drop (CI held it back).
            "tflite.max_accuracy_drop=0.1",
            "serving.model_name=digits",
            "kubeflow.backend=kfp",
            f"kubeflow.image={image}",
            f"kubeflow.pipeline_root={PIPELINE_ROOT}",
        ],
    )


def run_check(image: str, work_dir: Path, parameters: dict) -> Check:
    """Compiles and executes the spec; `parameters` are the run's runtime parameters (a
    `data_root` given is mounted in every task, as `work_dir` is). The config's data is 3
    digit classes x 60 images, written under `work_dir/data`."""
    work_dir = work_dir.resolve()
    data_root = work_dir / "data"
    demo_data.write_digits(data_root, classes=[0, 1, 2], per_class=60)
    config = config_for(work_dir, image, data_root)
    spec_path = work_dir / "pipeline.yaml"
    compiler.write_spec(config, str(spec_path))
    spec = yaml.safe_load(spec_path.read_text())
    given_root = parameters.get(nodes.DATA_ROOT_PARAMETER)
    mounts = [work_dir, *([Path(given_root).resolve()] if given_root else [])]
    backend = LocalKfp(
        image, store_dir=work_dir / "store", mounts=mounts, log_dir=work_dir / "logs"
    )
    return Check(config, backend, backend.run(spec, parameters, PIPELINE_ROOT), spec)


def outcome(check: Check) -> dict:
    """What the run left: blessing, pushed SavedModel version, TFLite files, times."""
    tasks = check.run.tasks
    blessing = tasks[nodes.EVALUATOR].outputs["blessing"][0]
    pushed = tasks[nodes.PUSHER].outputs["pushed_model"][0]["metadata"]
    tflite = tasks[nodes.TFLITE_PUSHER].outputs["pushed_model"][0]["metadata"]
    serving = Path(str(pushed.get("pushed_destination", "")))
    tflite_dir = Path(str(tflite.get("pushed_destination", "")))
    return {
        "run_id": check.run.run_id,
        "blessed": bool(blessing["metadata"].get("blessed")),
        "pushed": str(serving) if (serving / "saved_model.pb").is_file() else None,
        "tflite": sorted(p.name for p in tflite_dir.glob("*.tflite"))
        if tflite.get("pushed")
        else [],
        "seconds": {name: round(task.seconds, 1) for name, task in tasks.items()},
    }


def _summary_text(result: dict, total_s: float) -> str:
    lines = [f"Kubeflow check, run {result['run_id']}: every task in its own container"]
    for name, seconds in result["seconds"].items():
        lines.append(f"  {name:<28} {seconds:7.1f} s")
    lines += [
        f"  blessed          {'yes' if result['blessed'] else 'no'}",
        f"  pushed model     {result['pushed'] or 'none'}",
        f"  tflite           {', '.join(result['tflite']) or 'none'}",
        f"  finished in {total_s:.0f} s",
    ]
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeflow-check", description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the pipeline image (make image)")
    parser.add_argument("--work-dir", default="build/kubeflow-check", type=Path)
    parser.add_argument("--epochs", type=int, default=12, help="the epochs runtime parameter")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    started = time.monotonic()
    try:
        check = run_check(args.image, args.work_dir, {nodes.EPOCHS_PARAMETER: args.epochs})
    except TaskFailedError as failed:
        print(f"kubeflow-check: {failed}", file=sys.stderr)
        return 1
    result = outcome(check)
    print(_summary_text(result, time.monotonic() - started))
    (args.work_dir / "result.json").write_text(json.dumps(result, indent=2))
    missing = [k for k in ("blessed", "pushed", "tflite") if not result[k]]
    if missing:
        print(f"kubeflow-check: the run ended without {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
