"""What the Trainer and the Tuner are configured with: the `trainer` and `augmentation`
sections of the pipeline config, typed and validated on both sides of the TFX boundary.

pipeline/config.py composes these sections into `PipelineConfig`. `pipeline.trainer_config`
flattens them into the Trainer's `custom_config` (JSON), and run_fn and tuner_fn rebuild
them with `TrainingSettings.from_custom_config`, validated again: a value that arrives after
compile time (the `epochs` runtime parameter, set on the command line or in the Kubeflow
UI) is checked like one from the YAML file, before any training.

Also the one way the config is checked (`require`, `ConfigError`) and plain data becomes a
dataclass (`from_dict`), which pipeline/config_loader.py uses for the whole tree. No
TensorFlow here: pipeline/config.py imports this module.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any, Mapping, Sequence

from trainer.backbones import BACKBONES, STEM_FILTERS

FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
MIXED_PRECISION = ("auto", "on", "off")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the YAML file."""


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """Random changes to training images, drawn afresh every epoch; never at eval or serving.

    Each magnitude is a fraction: `rotation` of a full turn, `zoom` and `translation` of the
    image side, `brightness` and `contrast` of the pixel range, `crop` of the side cut off
    (then resized back). 0 turns a transformation off; `flip` is none, horizontal, vertical
    or horizontal_and_vertical. Mirror-sensitive classes (digits, text) want no flip.
    """

    flip: str = "none"
    rotation: float = 0.0
    zoom: float = 0.0
    translation: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    crop: float = 0.0

    def validate(self) -> None:
        require(self.flip in FLIPS, "augmentation.flip", f"one of {', '.join(FLIPS)}", self.flip)
        for name in ("rotation", "zoom", "translation", "brightness", "contrast", "crop"):
            value = getattr(self, name)
            require(0 <= value < 1, f"augmentation.{name}", "a fraction in [0, 1)", value)


@dataclasses.dataclass(frozen=True)
class FineTuningConfig:
    """The two phases used with pretrained weights (ignored with `weights: none`).

    Phase 1 trains the head for `head_epochs` with the backbone frozen. Phase 2 unfreezes the
    top `unfreeze_blocks` blocks of the backbone (when > 0; else the top `unfreeze_fraction`
    of its blocks) and trains on at `learning_rate`, with BatchNormalization layers kept
    frozen so their pretrained statistics survive small batches. `layer_decay` < 1 gives
    differential learning rates in phase 2, lower for deeper layers: the head trains at
    `learning_rate`, the top unfrozen block at `learning_rate * layer_decay`, the next one
    down at `learning_rate * layer_decay**2`, and so on (1: one rate for all).
    """

    head_epochs: int = 3
    unfreeze_blocks: int = 0
    unfreeze_fraction: float = 0.25
    learning_rate: float = 1e-4
    layer_decay: float = 1.0

    def validate(self) -> None:
        require(
            self.head_epochs >= 1, "trainer.fine_tuning.head_epochs", "at least 1", self.head_epochs
        )
        require(
            self.unfreeze_blocks >= 0,
            "trainer.fine_tuning.unfreeze_blocks",
            "a whole number >= 0",
            self.unfreeze_blocks,
        )
        require(
            0 <= self.unfreeze_fraction <= 1,
            "trainer.fine_tuning.unfreeze_fraction",
            "a fraction in [0, 1]",
            self.unfreeze_fraction,
        )
        require(
            0 < self.learning_rate < 1,
            "trainer.fine_tuning.learning_rate",
            "a value between 0 and 1",
            self.learning_rate,
        )
        require(
            0 < self.layer_decay <= 1,
            "trainer.fine_tuning.layer_decay",
            "a factor in (0, 1]",
            self.layer_decay,
        )


@dataclasses.dataclass(frozen=True)
class TunerConfig:
    """Optional TFX Tuner (keras-tuner random search) ahead of the Trainer.

    Each trial trains `epochs` epochs with one draw from the lists; the best trial's values
    (by eval accuracy) replace the Trainer's learning rate, dropout and unfreeze depth.
    """

    enabled: bool = False
    trials: int = 4
    epochs: int = 2
    learning_rates: Sequence[float] = (1e-3, 3e-4)
    dropouts: Sequence[float] = (0.2, 0.4)
    unfreeze_blocks: Sequence[int] = (2, 6)

    def validate(self) -> None:
        require(self.trials >= 1, "trainer.tuner.trials", "at least 1", self.trials)
        require(self.epochs >= 1, "trainer.tuner.epochs", "at least 1", self.epochs)
        for name in ("learning_rates", "dropouts", "unfreeze_blocks"):
            values = list(getattr(self, name))
            require(bool(values), f"trainer.tuner.{name}", "a non-empty list", values)


@dataclasses.dataclass(frozen=True)
class SelectionConfig:
    """How the Tuner chooses among the backbones `trainer.backbone` lists.

    Each candidate trains `trainer.tuner.epochs` epochs, is scored on the eval split, and is
    converted to an int8 TFLite model whose size and single-image latency the interpreter
    measures. The most accurate candidate wins among those within the bounds set here (0:
    no bound); none within them stops the run with every candidate's figures.
    """

    max_latency_ms: float = 0.0
    max_size_mb: float = 0.0

    def validate(self) -> None:
        for name in ("max_latency_ms", "max_size_mb"):
            value = getattr(self, name)
            require(value >= 0, f"trainer.selection.{name}", "0 (no bound) or more", value)

    @property
    def bounded(self) -> bool:
        return bool(self.max_latency_ms or self.max_size_mb)

    @property
    def bounds(self) -> str:
        """The bounds in words, for logs and messages."""
        bounds = [
            *([f"int8 latency <= {self.max_latency_ms:g} ms"] if self.max_latency_ms else []),
            *([f"int8 size <= {self.max_size_mb:g} MB"] if self.max_size_mb else []),
        ]
        return " and ".join(bounds) or "no bound"

    def meets(self, latency_ms: float, size_mb: float) -> bool:
        return (not self.max_latency_ms or latency_ms <= self.max_latency_ms) and (
            not self.max_size_mb or size_mb <= self.max_size_mb
        )


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """The model and how it is trained.

    `backbone` is one of trainer/backbones.py's `BACKBONES`: EfficientNet B0-B7 and V2,
    MobileNetV2, MobileNetV3Small/Large, ResNet50, ResNet50V2, VGG16, or `compact`, a small
    separable-convolution network for small datasets (no ImageNet weights). A list of them
    is a choice the Tuner makes (see SelectionConfig); the Trainer then trains the chosen one.
    `stem_filters` `sobel` puts a 3x3 convolution started as edge filters before the
    backbone, frozen unless `stem_trainable`.

    `weights` is `none` (random initialisation, every layer trained in one phase),
    `imagenet` (Keras' download and cache) or the path of a local weights file for the
    backbone; pretrained weights are fine-tuned in two phases (see FineTuningConfig).
    `epochs` counts every epoch, both phases together. The learning rate warms up linearly
    for `warmup_epochs`, then follows `lr_schedule` (cosine decay to zero, or constant).

    `batchnorm_momentum` sets how fast BatchNormalization's moving statistics follow the
    data when they are trained: Keras' 0.99 suits long ImageNet runs, but on a small dataset
    trained from scratch the statistics used at evaluation then lag the weights for hundreds
    of steps (measured on the digits demo: eval accuracy 0.09 after 4 epochs with 0.99,
    0.87 with 0.9).

    `early_stopping_patience` > 0 stops after that many epochs without a better eval
    accuracy and restores the best weights. `class_weights` weighs the loss by inverse class
    frequency (counts from Transform). `warm_start` starts from the latest blessed model
    (same backbone, size and classes). `cache_max_mb` is the memory the decoded training
    split may take to be cached between epochs. `mixed_precision` auto means on when a GPU
    is present.
    """

    backbone: str | Sequence[str] = "EfficientNetB0"
    weights: str = "none"
    stem_filters: str = "none"
    stem_trainable: bool = False
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_epochs: int = 0
    lr_schedule: str = "cosine"
    dropout: float = 0.2
    batchnorm_momentum: float = 0.9
    early_stopping_patience: int = 0
    class_weights: bool = False
    warm_start: bool = False
    cache_max_mb: int = 2048
    jit_compile: bool = False
    mixed_precision: str = "auto"
    fine_tuning: FineTuningConfig = dataclasses.field(default_factory=FineTuningConfig)
    tuner: TunerConfig = dataclasses.field(default_factory=TunerConfig)
    selection: SelectionConfig = dataclasses.field(default_factory=SelectionConfig)

    def validate(self) -> None:
        names = self.backbones
        for name in names:
            require(
                name in BACKBONES,
                "trainer.backbone",
                f"one of {', '.join(BACKBONES)}, or a list of them",
                name,
            )
            require(
                self.weights != "imagenet" or BACKBONES[name].has_imagenet_weights,
                "trainer.weights",
                f"none or a local weights file: {name} has no ImageNet weights",
                self.weights,
            )
        if self.candidates:
            require(
                len(set(names)) == len(names) >= 2,
                "trainer.backbone",
                "a list of two or more different backbones",
                list(self.backbone),
            )
            require(
                self.weights in ("none", "imagenet"),
                "trainer.weights",
                "none or imagenet when trainer.backbone lists candidates (a weights file "
                "fits one backbone)",
                self.weights,
            )
            require(
                not self.warm_start,
                "trainer.warm_start",
                "false when trainer.backbone lists candidates (the blessed model's backbone "
                "may not be the one chosen)",
                self.warm_start,
            )
        self.selection.validate()
        require(
            self.stem_filters in STEM_FILTERS,
            "trainer.stem_filters",
            f"one of {', '.join(STEM_FILTERS)}",
            self.stem_filters,
        )
        require(self.epochs >= 1, "trainer.epochs", "at least 1", self.epochs)
        require(self.batch_size >= 1, "trainer.batch_size", "at least 1", self.batch_size)
        require(
            0 < self.learning_rate < 1,
            "trainer.learning_rate",
            "a value between 0 and 1",
            self.learning_rate,
        )
        require(
            0 <= self.warmup_epochs < self.epochs,
            "trainer.warmup_epochs",
            "0 or more, fewer than trainer.epochs",
            self.warmup_epochs,
        )
        require(
            self.lr_schedule in ("cosine", "constant"),
            "trainer.lr_schedule",
            "cosine or constant",
            self.lr_schedule,
        )
        require(0 <= self.dropout < 1, "trainer.dropout", "0 <= dropout < 1", self.dropout)
        require(
            0 < self.batchnorm_momentum < 1,
            "trainer.batchnorm_momentum",
            "a value between 0 and 1",
            self.batchnorm_momentum,
        )
        require(
            self.early_stopping_patience >= 0,
            "trainer.early_stopping_patience",
            "0 (off) or more epochs",
            self.early_stopping_patience,
        )
        require(self.cache_max_mb >= 0, "trainer.cache_max_mb", "0 or more", self.cache_max_mb)
        require(
            self.mixed_precision in MIXED_PRECISION,
            "trainer.mixed_precision",
            f"one of {', '.join(MIXED_PRECISION)}",
            self.mixed_precision,
        )
        self.fine_tuning.validate()
        self.tuner.validate()
        if self.pretrained:
            require(
                self.fine_tuning.head_epochs < self.epochs,
                "trainer.fine_tuning.head_epochs",
                f"fewer than trainer.epochs ({self.epochs}) to leave epochs for fine-tuning",
                self.fine_tuning.head_epochs,
            )

    @property
    def pretrained(self) -> bool:
        return self.weights != "none"

    @property
    def candidates(self) -> tuple:
        """The backbones to choose among; empty when `backbone` names one."""
        return () if isinstance(self.backbone, str) else tuple(self.backbone)

    @property
    def backbones(self) -> tuple:
        """The one backbone, or the candidates."""
        return self.candidates or (self.backbone,)


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Everything run_fn and tuner_fn are configured with: the trainer and augmentation
    sections, the model's input side, the largest image the serving signatures accept,
    and where an interrupted run keeps its progress (set by ImageTrainer's executor)."""

    trainer: TrainerConfig
    augmentation: AugmentationConfig
    image_size: int
    max_pixels: int
    resume_dir: str = ""

    def validate(self) -> None:
        self.trainer.validate()
        self.augmentation.validate()
        require(self.image_size >= 16, "image_size", "at least 16 pixels", self.image_size)
        require(self.max_pixels >= 1, "serving.max_pixels", "at least 1", self.max_pixels)

    def custom_config(self) -> dict:
        """The Trainer's `custom_config`: the trainer section's keys at the top, beside
        `image_size`, `max_pixels`, `augmentation` and `resume_dir`."""
        flat = dataclasses.asdict(self)
        return {**flat.pop("trainer"), **flat}

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any]) -> TrainingSettings:
        """`custom_config` rebuilt and validated; `epochs` must be in it (ImageTrainer's
        executor puts the runtime parameter there)."""
        outer = {"image_size", "max_pixels", "augmentation", "resume_dir"}
        trainer = {k: v for k, v in custom_config.items() if k not in outer}
        require("epochs" in trainer, "trainer.epochs", "a value in custom_config", None)
        rest = {k: v for k, v in custom_config.items() if k in outer}
        settings = from_dict(cls, {**rest, "trainer": trainer})
        settings.validate()
        return settings


def from_dict(cls: type, raw: Any, prefix: str = "") -> Any:
    """Dataclass `cls` from plain data (parsed YAML or JSON), strictly: an unknown key or a
    value of the wrong type is a `ConfigError` naming the key (`prefix` + its name)."""
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
        return from_dict(hint, value, prefix=f"{key}.")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        # One value or a list of them (`trainer.backbone`): the list's option takes a list.
        is_list = isinstance(value, (list, tuple))
        (option,) = [
            option
            for option in typing.get_args(hint)
            if (typing.get_origin(option) is collections.abc.Sequence) == is_list
        ]
        return _coerce(option, value, key)
    if origin is collections.abc.Sequence:
        require(isinstance(value, (list, tuple)), key, "a list", value)
        (item,) = typing.get_args(hint)
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is collections.abc.Mapping:
        require(isinstance(value, Mapping), key, "a mapping", value)
        value_hint = typing.get_args(hint)[1]
        return {name: _coerce(value_hint, v, f"{key}.{name}") for name, v in value.items()}
    if hint is bool:
        require(isinstance(value, bool), key, "true or false", value)
        return value
    if hint is int:
        require(
            isinstance(value, int) and not isinstance(value, bool), key, "a whole number", value
        )
        return value
    if hint is float:
        require(_is_number(value), key, "a number", value)
        return float(value)
    if hint is str:
        require(
            isinstance(value, (str, int, float)) and not isinstance(value, bool),
            key,
            "a string",
            value,
        )
        return str(value)
    raise TypeError(f"config field {key} has a type the loader does not handle: {hint}")


def _is_number(value: Any) -> bool:
    """An int or a float, and not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require(condition: bool, key: str, expected: str, value: Any) -> None:
    """The one way a value is checked: `key: expected ..., got value`, worded for the YAML's
    author."""
    if not condition:
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")
