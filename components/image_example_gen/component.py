"""ImageExampleGen: TFX's FileBasedExampleGen with the image-folder executor.

Inheriting FileBasedExampleGen keeps everything users know from TFX: input_base, the
output split config, span/version resolution, input fingerprinting for caching, and Beam
pipeline args for scaling out.
"""

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components.image_example_gen import executor


class ImageExampleGen(FileBasedExampleGen):
    """Reads a class-per-folder image tree into tf.Examples (see DESIGN.md's data contract)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
