"""Installs the pipeline's packages and the `image-pipeline` console script.

Install with the pinned set: `pip install -c constraints.txt -e ".[dev,kubeflow]"` (the
Makefile does this). The requirements below are the direct dependencies; constraints.txt
pins the rest.
"""

from setuptools import find_packages, setup

setup(
    name="image-pipeline",
    version="0.1.0",
    description="A production TFX pipeline for image classification with EfficientNet",
    # 3.10: the code uses zip(strict=); <3.11: the pinned TFX 1.16 stack is tested on 3.10 only.
    python_requires=">=3.10,<3.11",
    packages=find_packages(
        include=["pipeline", "pipeline.*", "components", "components.*", "trainer"]
    ),
    install_requires=[
        "tfx==1.16.0",
        "apache-beam[gcp]==2.59.0",
        "protobuf==3.20.3",
        "tensorflow==2.16.2",
        "tf-keras==2.16.0",
        "pillow",
        "pyyaml",
        "scikit-learn",
        "jsonschema",  # the model card is validated against its schema
        # TFLite model metadata (the writers) and the Task Library the tests classify with.
        "tflite-support==0.4.4",
        # The PredictionLog protos of TF Serving's warm-up file.
        "tensorflow-serving-api==2.16.1",
        # Quantization-aware training before the int8 conversion (tflite.qat).
        "tensorflow-model-optimization==0.8.0",
    ],
    extras_require={
        "dev": ["pytest", "ruff", "nbclient", "nbformat", "ipykernel"],  # notebook test
        "kubeflow": ["tfx[kfp]==1.16.0"],
    },
    entry_points={"console_scripts": ["image-pipeline=pipeline.cli:main"]},
)
