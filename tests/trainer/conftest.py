"""Transformed digits for Trainer tests: the real preprocessing_fn run by TFT Beam.

Three classes of real scans, transformed exactly as the Transform component would (same
preprocessing_fn, same TFRecord format), so the input pipeline, training, export and
tuning are tested on what they get in the pipeline. `trained` runs run_fn on them once per
session; the export, serving and TFLite tests all assert on that one model.
"""

import dataclasses
from pathlib import Path
from typing import List

import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.components.trainer.fn_args_utils import FnArgs

from pipeline import config_loader
from pipeline.pipeline import trainer_config
from trainer import features, preprocessing, run
from trainer.settings import TrainerConfig, TrainingSettings

IMAGE_SIZE = 32


@dataclasses.dataclass(frozen=True)
class Transformed:
    transform_output: str
    train_files: List[str]
    eval_files: List[str]

    @property
    def tf_transform_output(self) -> tft.TFTransformOutput:
        return tft.TFTransformOutput(self.transform_output)


@pytest.fixture(scope="session")
def transformed_digits(tmp_path_factory, digits_subset) -> Transformed:
    out = tmp_path_factory.mktemp("transformed")
    paths = sorted(Path(digits_subset).rglob("*.png"))
    rows = [{"image": [p.read_bytes()], "label": [p.parent.name.encode()]} for p in paths]
    splits = {
        "train": [row for index, row in enumerate(rows) if index % 6],
        "eval": rows[::6],
    }
    raw_metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                features.IMAGE_KEY: tf.io.FixedLenFeature([1], tf.string),
                features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.string),
            }
        )
    )
    with tft_beam.Context(temp_dir=str(out / "tmp"), force_tf_compat_v1=False):
        transform_fn = (splits["train"], raw_metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing.preprocessing_fn(inputs, {"image_size": IMAGE_SIZE})
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "transform_graph"))
    metadata_io.write_metadata(raw_metadata, str(out / "transform_graph" / "metadata"))

    output = tft.TFTransformOutput(str(out / "transform_graph"))
    layer = output.transform_features_layer()
    coder = tft.coders.ExampleProtoCoder(output.transformed_metadata.schema)
    for name, split in splits.items():
        transformed = layer(
            {key: tf.constant([row[key] for row in split]) for key in ("image", "label")}
        )
        (out / name).mkdir()
        with tf.io.TFRecordWriter(str(out / name / "data.gz"), options="GZIP") as writer:
            for index in range(len(split)):
                writer.write(coder.encode({k: v[index].numpy() for k, v in transformed.items()}))
    return Transformed(
        transform_output=str(out / "transform_graph"),
        train_files=[str(out / "train" / "*.gz")],
        eval_files=[str(out / "eval" / "*.gz")],
    )


def local_weights(folder: Path) -> str:
    """An EfficientNetB0 weights file of our own (nothing is downloaded): pretrained weights
    as far as the Trainer can tell, so it trains in two phases."""
    source = tf.keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), pooling="avg"
    )
    path = str(folder / "b0.h5")
    source.save_weights(path)
    return path


def custom_config(**trainer):
    """What ImageTrainer's executor hands run_fn: the trainer config plus the epochs."""
    config = config_loader.config_from_dict(
        {
            "preprocessing": {"image_size": IMAGE_SIZE},
            "augmentation": {"rotation": 0.05, "zoom": 0.1},
            "trainer": {"epochs": 2, "batch_size": 16, **trainer},
        }
    )
    return {**trainer_config(config), "epochs": config.trainer.epochs}


def trainer_settings(**trainer) -> TrainerConfig:
    """The trainer config run_fn rebuilds from `custom_config(**trainer)`."""
    return TrainingSettings.from_custom_config(custom_config(**trainer)).trainer


@pytest.fixture(scope="session")
def trained(transformed_digits, tmp_path_factory) -> FnArgs:
    """run_fn end to end, seeded, and trained like the demo (warm-up, then cosine decay from
    a high learning rate) long enough for confident predictions (15 epochs of 150 images, a
    few seconds each once the graph is built): the TFLite tests compare quantised
    conversions against it on 30 eval images, where one flipped image is 3 points."""
    tf.keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("run_fn")
    fn_args = FnArgs(
        train_files=transformed_digits.train_files,
        eval_files=transformed_digits.eval_files,
        transform_graph_path=transformed_digits.transform_output,
        serving_model_dir=str(out / "serving"),
        model_run_dir=str(out / "model_run"),
        custom_config=custom_config(
            epochs=15,
            learning_rate=0.002,
            warmup_epochs=1,
            class_weights=True,
            early_stopping_patience=4,
        ),
    )
    run.run_fn(fn_args)
    return fn_args
