"""The pipeline's configuration: one frozen dataclass tree, loaded from YAML plus overrides.

Every knob a user turns lives here, so `create_pipeline(config)` needs nothing else and a
run is reproducible from its YAML file. Loading is strict: an unknown key or a value of the
wrong type or range is a `ConfigError` whose one-line message names the file, the key and
the fix, because a typo that is silently ignored costs a whole training run.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

BACKBONES = (
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
)


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the YAML file."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images are, what ingestion accepts, and how examples are split.

    `root` is a class-per-folder tree (every sub-folder is a class, named after the folder),
    or the folder of `manifest`, a CSV or JSONL file of `path,label[,split]` rows with paths
    relative to it. With `span_pattern` (a folder name with `{SPAN}`, e.g. `span-{SPAN}`),
    each run ingests only the newest span folder under `root`, and Transform and the Trainer
    see the `latest_spans` newest spans. Images with a side under `min_side` or more than
    `max_pixels` pixels (read from the header, before decoding) are quarantined, and the run
    fails when more than `max_quarantine_fraction` of the files that are not ignored are
    quarantined. Examples go to a split by a hash of the image content, in proportion to
    `split` (a manifest's `split` column overrides it), so an image lands in the same split
    on every run and identical images never straddle splits.
    """

    root: str = "data/digits"
    manifest: str = ""
    span_pattern: str = ""
    latest_spans: int = 1
    min_side: int = 8
    max_pixels: int = 50_000_000
    max_quarantine_fraction: float = 0.1
    split: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"train": 8, "eval": 2})

    @property
    def input_pattern(self) -> str:
        """The ExampleGen input pattern: `*` (class folders) or the manifest, maybe in a span."""
        name = self.manifest or "*"
        return f"{self.span_pattern}/{name}" if self.span_pattern else name

    def validate(self) -> None:
        if set(self.split) != {"train", "eval"}:
            raise ConfigError(
                f"data.split: expected the splits 'train' and 'eval', got {sorted(self.split)}"
            )
        for name, buckets in self.split.items():
            if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1:
                raise ConfigError(
                    f"data.split.{name}: expected a whole number >= 1 (a share of the hash "
                    f"buckets), got {buckets!r}"
                )
        if self.manifest and (
            "*" in self.manifest or not self.manifest.lower().endswith((".csv", ".jsonl"))
        ):
            raise ConfigError(
                f"data.manifest: expected a .csv or .jsonl file name in data.root, "
                f"got {self.manifest!r}"
            )
        if self.span_pattern and ("{SPAN}" not in self.span_pattern or "*" in self.span_pattern):
            raise ConfigError(
                f"data.span_pattern: expected a folder name with {{SPAN}} such as "
                f"'span-{{SPAN}}', got {self.span_pattern!r}"
            )
        if self.latest_spans < 1:
            raise ConfigError(f"data.latest_spans: expected at least 1, got {self.latest_spans}")
        if self.min_side < 1:
            raise ConfigError(f"data.min_side: expected at least 1 pixel, got {self.min_side}")
        if self.max_pixels < self.min_side**2:
            raise ConfigError(
                f"data.max_pixels: expected at least min_side squared ({self.min_side**2}), "
                f"got {self.max_pixels}"
            )
        if not 0 <= self.max_quarantine_fraction <= 1:
            raise ConfigError(
                "data.max_quarantine_fraction: expected a value in [0, 1], "
                f"got {self.max_quarantine_fraction}"
            )


DRIFT_FEATURES = ("label", "format")
"""Categorical features of the data contract whose drift between spans can be limited."""


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """What happens when ExampleValidator finds anomalies or a new span drifts.

    `on_anomalies: stop` ends the run before Transform and training, listing the anomalies;
    `warn` logs them and goes on. `max_drift` limits, per categorical feature, the
    L-infinity distance between the new span's value distribution and the previous
    span's (the largest change in any one value's share, 0 to 1); leave a feature out to
    not check it.
    """

    on_anomalies: str = "stop"
    max_drift: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"label": 0.3, "format": 0.5}
    )

    def validate(self) -> None:
        if self.on_anomalies not in ("stop", "warn"):
            raise ConfigError(
                f"validation.on_anomalies: expected stop or warn, got {self.on_anomalies!r}"
            )
        for feature, limit in self.max_drift.items():
            if feature not in DRIFT_FEATURES:
                raise ConfigError(
                    f"validation.max_drift.{feature}: drift can be limited on "
                    f"{', '.join(DRIFT_FEATURES)} only"
                )
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit <= 1:
                raise ConfigError(
                    f"validation.max_drift.{feature}: expected a number in (0, 1], got {limit!r}"
                )


@dataclasses.dataclass(frozen=True)
class PreprocessingConfig:
    """What Transform does to every image, in training and at serving alike."""

    image_size: int = 32

    def validate(self) -> None:
        if self.image_size < 16:
            raise ConfigError(
                f"preprocessing.image_size: expected at least 16 pixels, got {self.image_size}"
            )


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """The model and how it is trained.

    `weights` is `none` (random initialisation, every layer trained), `imagenet` (Keras'
    download and cache) or the path of a local weights file for the backbone.
    `batchnorm_momentum` sets how fast BatchNormalization's moving statistics follow the
    data: Keras' 0.99 suits long ImageNet runs, but on a small dataset trained from scratch
    the statistics used at evaluation then lag the weights for hundreds of steps (measured
    on the digits demo: eval accuracy 0.09 after 4 epochs with 0.99, 0.87 with 0.9).
    """

    backbone: str = "EfficientNetB0"
    weights: str = "none"
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 1e-3
    dropout: float = 0.2
    batchnorm_momentum: float = 0.9

    def validate(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(
                f"trainer.backbone: unknown backbone {self.backbone!r}; "
                f"choose one of {', '.join(BACKBONES)}"
            )
        if self.epochs < 1:
            raise ConfigError(f"trainer.epochs: expected at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"trainer.batch_size: expected at least 1, got {self.batch_size}")
        if not 0 < self.learning_rate < 1:
            raise ConfigError(
                f"trainer.learning_rate: expected a value between 0 and 1, got {self.learning_rate}"
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"trainer.dropout: expected 0 <= dropout < 1, got {self.dropout}")
        if not 0 < self.batchnorm_momentum < 1:
            raise ConfigError(
                "trainer.batchnorm_momentum: expected a value between 0 and 1, "
                f"got {self.batchnorm_momentum}"
            )


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """The gate a candidate model must pass to be blessed and pushed.

    `min_accuracy` is an absolute bound on the overall slice. `max_accuracy_drop` is how much
    accuracy the candidate may lose against the latest blessed model (ignored on the first
    run, when there is no baseline).
    """

    min_accuracy: float = 0.9
    max_accuracy_drop: float = 0.01

    def validate(self) -> None:
        if not 0 <= self.min_accuracy <= 1:
            raise ConfigError(
                f"evaluation.min_accuracy: expected a value in [0, 1], got {self.min_accuracy}"
            )
        if not 0 <= self.max_accuracy_drop <= 1:
            raise ConfigError(
                "evaluation.max_accuracy_drop: expected a value in [0, 1], "
                f"got {self.max_accuracy_drop}"
            )


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Where a blessed model is pushed: `<output_dir>/serving/<model_name>/<version>/`."""

    model_name: str = "image_classifier"

    def validate(self) -> None:
        if not self.model_name or "/" in self.model_name:
            raise ConfigError(
                f"serving.model_name: expected a plain name without '/', got {self.model_name!r}"
            )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline.

    Everything a run writes goes under `output_dir`: the pipeline root (artifacts), the ML
    Metadata database and the pushed models. `schema_file` is the curated schema the data is
    validated against.
    """

    pipeline_name: str = "image-pipeline"
    output_dir: str = "runs/image-pipeline"
    schema_file: str = "schema/schema.pbtxt"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)
    preprocessing: PreprocessingConfig = dataclasses.field(default_factory=PreprocessingConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    beam_pipeline_args: Sequence[str] = (
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    )

    def validate(self) -> None:
        if not self.pipeline_name:
            raise ConfigError("pipeline_name: must not be empty")
        for section in (
            self.data,
            self.validation,
            self.preprocessing,
            self.trainer,
            self.evaluation,
            self.serving,
        ):
            section.validate()

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.output_dir, "serving", self.serving.model_name)


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Reads a YAML config, applies `key.sub=value` overrides and validates the result.

    Relative paths in the file (data root, output dir, schema) are taken relative to the
    current directory, as a user typing them on the command line would expect.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; see configs/ for examples")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    for override in overrides:
        _apply_override(raw, override)
    try:
        config = config_from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return _absolute_paths(config)


def config_from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    """Builds and validates a `PipelineConfig` from plain data (as parsed from YAML)."""
    config = _build(PipelineConfig, raw, prefix="")
    config.validate()
    return config


def _apply_override(raw: dict, override: str) -> None:
    key, sep, value = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r}: expected the form section.key=value")
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(value)


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of keys")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key '{prefix}{unknown[0]}'; known keys here: {', '.join(sorted(fields))}"
        )
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, f"{prefix}{name}")
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=f"{key}.")
    origin = typing.get_origin(hint)
    if origin is collections.abc.Sequence:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return tuple(value)
    if origin is collections.abc.Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise TypeError(f"config field {key} has a type the loader does not handle: {hint}")


def _absolute_paths(config: PipelineConfig) -> PipelineConfig:
    return dataclasses.replace(
        config,
        output_dir=os.path.abspath(config.output_dir),
        schema_file=os.path.abspath(config.schema_file),
        data=dataclasses.replace(config.data, root=os.path.abspath(config.data.root)),
    )
