"""The Trainer's config on its side of the TFX boundary: rebuilt from `custom_config` as the
typed, validated dataclasses, so a value that arrives after compile time is checked too."""

import json

import pytest

from pipeline import config_loader
from pipeline.pipeline import trainer_config
from trainer.settings import ConfigError, TrainingSettings


def test_custom_config_round_trips_through_json_to_the_same_settings():
    config = config_loader.config_from_dict(
        {
            "preprocessing": {"image_size": 64},
            "augmentation": {"flip": "horizontal", "zoom": 0.1},
            "trainer": {"backbone": "MobileNetV3Small", "stem_filters": "sobel", "epochs": 7},
        }
    )
    raw = json.loads(json.dumps({**trainer_config(config), "epochs": 7}))
    settings = TrainingSettings.from_custom_config(raw)
    assert settings.trainer == config.trainer
    assert settings.augmentation == config.augmentation
    assert (settings.image_size, settings.max_pixels) == (64, config.serving.max_pixels)
    assert json.loads(json.dumps(settings.custom_config())) == {**raw, "resume_dir": ""}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"weights": "imagenet", "epochs": 2},
            "trainer.fine_tuning.head_epochs: expected fewer than trainer.epochs (2)",
        ),
        ({"epochs": None}, "trainer.epochs: expected a value in custom_config"),
        ({"epochs": "20"}, "trainer.epochs: expected a whole number, got '20'"),
        ({"backbone": "ResNet101"}, "trainer.backbone: expected one of EfficientNetB0"),
        ({"dropuot": 0.1}, "unknown key 'trainer.dropuot'"),
    ],
)
def test_a_value_the_config_would_refuse_stops_the_trainer_before_it_trains(change, message):
    """`epochs` is a runtime parameter: `--param epochs=2` or the Kubeflow UI set it after
    the config was validated, and with ImageNet weights phase 1 alone takes 3."""
    raw = {**trainer_config(config_loader.config_from_dict({})), "epochs": 15, **change}
    raw = {key: value for key, value in raw.items() if value is not None}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainingSettings.from_custom_config(raw)
