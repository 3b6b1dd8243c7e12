"""ImageExampleGen: TFX's FileBasedExampleGen with the image-folder executor.

Inheriting FileBasedExampleGen keeps everything users know from TFX: input_base, the input
pattern with `{SPAN}` and its driver's span resolution and input fingerprinting for
caching (extended to every file in the tree: driver.py), the output split config, and Beam
pipeline args for scaling out. The spec adds the ingestion limits as typed execution
parameters, so they are recorded in ML Metadata and a change to them re-runs ingestion
instead of reusing the cache.
"""

from __future__ import annotations

from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.image_example_gen import driver, executor


class ImageExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's spec plus the ingestion limits."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.MIN_SIDE_KEY: ExecutionParameter(type=int),
        executor.MAX_PIXELS_KEY: ExecutionParameter(type=int),
        executor.MAX_QUARANTINE_FRACTION_KEY: ExecutionParameter(type=float),
        executor.MIN_IMAGES_PER_CLASS_KEY: ExecutionParameter(type=int),
    }


class ImageExampleGen(FileBasedExampleGen):
    """Reads class folders or a manifest into tf.Examples (the data contract: trainer/features.py).

    `input_config` has one pattern: `*` for class folders under `input_base`, or a manifest
    file name, optionally under a span folder (`span-{SPAN}/*`).
    """

    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = driver.Driver

    def __init__(
        self,
        input_base: str,
        input_config: example_gen_pb2.Input,
        output_config: example_gen_pb2.Output,
        min_side: int,
        max_pixels: int,
        max_quarantine_fraction: float,
        min_images_per_class: int,
    ):
        spec = ImageExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples),
            **{
                executor.MIN_SIDE_KEY: min_side,
                executor.MAX_PIXELS_KEY: max_pixels,
                executor.MAX_QUARANTINE_FRACTION_KEY: max_quarantine_fraction,
                executor.MIN_IMAGES_PER_CLASS_KEY: min_images_per_class,
            },
        )
        # FileBasedExampleGen.__init__ builds the base spec; ours extends it, so the
        # component is initialised one level up, with everything else inherited.
        super(FileBasedExampleGen, self).__init__(spec=spec)
