"""Running ImageExampleGen's executor on a folder, outside any pipeline.

A pipeline runs the executor as a node: the driver resolves the input span and ML Metadata
records the Examples artifact. `run_executor` calls the same `Executor.Do` directly, in
Beam, with the hash split into `train` and `eval` buckets. It is not used by the pipeline:
the component tests use it to check the executor on real files, and bench/ingestion.py to
time it, so that both run exactly the code a pipeline runs, without an orchestrator around
it (the benchmark times ingestion, not TFX's start-up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

from tfx import types
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.image_example_gen import executor


def run_executor(
    input_base: Union[str, os.PathLike],
    output_dir: Path,
    pattern: str = "*",
    train: int = 8,
    eval_: int = 2,
    min_side: int = 8,
    max_pixels: int = 1_000_000,
    max_quarantine_fraction: float = 1.0,
    min_images_per_class: int = 1,
    beam_pipeline_args: Sequence[str] = (),
) -> types.Artifact:
    """Ingests `pattern` under `input_base` (`*`: class folders; else a manifest) into an
    Examples artifact at `output_dir/examples/1` (as in a pipeline root), and returns it.

    `train` and `eval_` are the hash buckets of the two splits; the other arguments are the
    `data` settings of the config.
    """
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir / "examples" / "1")  # as in a pipeline root
    exec_properties = {
        "input_base": str(input_base),
        "input_config": proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern=pattern)])
        ),
        "output_config": proto_utils.proto_to_json(
            example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[
                        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train),
                        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_),
                    ],
                    partition_feature_name="sha256",
                )
            )
        ),
        "span": 0,
        "version": None,
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        executor.MIN_SIDE_KEY: min_side,
        executor.MAX_PIXELS_KEY: max_pixels,
        executor.MAX_QUARANTINE_FRACTION_KEY: max_quarantine_fraction,
        executor.MIN_IMAGES_PER_CLASS_KEY: min_images_per_class,
    }
    context = executor.Executor.Context(beam_pipeline_args=list(beam_pipeline_args))
    executor.Executor(context).Do({}, {"examples": [examples]}, exec_properties)
    return examples
