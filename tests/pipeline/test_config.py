"""Config loading: strict keys and types, overrides, one-line errors that name the key."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from pipeline import config as config_lib
from pipeline import config_loader, nodes
from pipeline.pipeline import create_pipeline

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_demo_config_loads_with_absolute_paths():
    config = config_loader.load_config(REPO / "configs" / "demo.yaml")
    assert config.pipeline_name == "digits-demo"
    assert config.trainer.weights == "none"
    assert config.preprocessing.image_size == 32
    assert Path(config.data.root).is_absolute()
    assert Path(config.output_dir).is_absolute()
    assert config.serving_dir.endswith("serving/digits")


def keys(value, prefix=""):
    """Every leaf key of a nested mapping, dotted (mapping-valued settings count as leaves)."""
    if not isinstance(value, dict) or prefix.endswith(("max_drift", "max_skew", "components")):
        return {prefix}
    return set().union(*(keys(v, f"{prefix}.{k}" if prefix else k) for k, v in value.items()))


def test_template_loads_and_lists_every_key():
    path = REPO / "configs" / "template.yaml"
    config = config_loader.load_config(path)
    listed = keys(yaml.safe_load(path.read_text()))
    assert listed == keys(dataclasses.asdict(config))
    assert config.trainer.weights == "imagenet"


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = write(tmp_path, "trainer:\n  epoch: 3\n")
    with pytest.raises(config_lib.ConfigError) as error:
        config_loader.load_config(path)
    message = str(error.value)
    assert str(path) in message
    assert "unknown key 'trainer.epoch'" in message
    assert "epochs" in message  # the known keys point at the fix
    assert "\n" not in message


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="unknown key 'trainr'"):
        config_loader.load_config(write(tmp_path, "trainr: {}\n"))


@pytest.mark.parametrize(
    "text, key",
    [
        ("trainer:\n  epochs: many\n", "trainer.epochs: expected a whole number"),
        ("trainer:\n  epochs: 0\n", "trainer.epochs: expected at least 1"),
        ("trainer:\n  learning_rate: true\n", "trainer.learning_rate: expected a number"),
        ("trainer:\n  backbone: ResNet101\n", "trainer.backbone: expected one of EfficientNetB0"),
        (
            "trainer:\n  backbone: compact\n  weights: imagenet\n",
            "trainer.weights: expected none or a local weights file: compact has no ImageNet",
        ),
        ("trainer:\n  stem_filters: gabor\n", "trainer.stem_filters: expected one of none, sobel"),
        (
            "trainer:\n  backbone: [compact, compact]\n",
            "trainer.backbone: expected a list of two or more different backbones",
        ),
        ("trainer:\n  backbone: [compact, ResNet101]\n", "or a list of them, got 'ResNet101'"),
        (
            "trainer:\n  backbone: [VGG16, compact]\n  weights: imagenet\n",
            "trainer.weights: expected none or a local weights file: compact has no ImageNet",
        ),
        (
            "trainer:\n  backbone: [VGG16, ResNet50]\n  weights: /w.h5\n",
            "trainer.weights: expected none or imagenet when trainer.backbone lists candidates",
        ),
        (
            "trainer:\n  backbone: [VGG16, ResNet50]\n  warm_start: true\n",
            "trainer.warm_start: expected false when trainer.backbone lists candidates",
        ),
        (
            "trainer:\n  backbone: [VGG16, compact]\n",
            "preprocessing.image_size: expected a size when the candidates in trainer.backbone "
            "have different native sizes (VGG16 224, compact 96)",
        ),
        (
            "trainer:\n  selection: {max_latency_ms: 5}\n",
            "trainer.selection: expected no bounds unless trainer.backbone lists candidates",
        ),
        (
            "trainer:\n  backbone: [VGG16, ResNet50]\n  selection: {max_size_mb: -1}\n",
            "trainer.selection.max_size_mb: expected 0 (no bound) or more",
        ),
        ("evaluation:\n  min_accuracy: 1.5\n", "evaluation.min_accuracy"),
        (
            "evaluation:\n  size_buckets: [256, 64]\n",
            "evaluation.size_buckets: expected increasing",
        ),
        ("data:\n  split: {train: 8, test: 2}\n", "data.split"),
        ("preprocessing:\n  image_size: 4\n", "preprocessing.image_size"),
        ("beam_pipeline_args: --runner=DirectRunner\n", "beam_pipeline_args: expected a list"),
        ("trainer: 3\n", "trainer: expected a mapping"),
        ("augmentation:\n  flip: sideways\n", "augmentation.flip: expected one of none"),
        ("augmentation:\n  rotation: 1.5\n", "augmentation.rotation: expected a fraction"),
        ("trainer:\n  tuner:\n    dropouts: [0.1, x]\n", "trainer.tuner.dropouts[1]"),
        (
            "trainer:\n  weights: imagenet\n  epochs: 3\n  fine_tuning: {head_epochs: 3}\n",
            "trainer.fine_tuning.head_epochs: expected fewer than trainer.epochs (3)",
        ),
        ("trainer:\n  warmup_epochs: 20\n", "trainer.warmup_epochs"),
        (
            "trainer:\n  warm_start: true\nevaluation:\n  baseline: none\n",
            "trainer.warm_start: expected false when evaluation.baseline is none",
        ),
        ("tflite:\n  qat: yes please\n", "tflite.qat: expected true or false"),
        ("tflite:\n  qat_epochs: 0\n", "tflite.qat_epochs: expected a whole number >= 1"),
        (
            "tflite:\n  conversions: [float32]\n  qat: true\n",
            "tflite.qat: expected false unless tflite.conversions has int8",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, key):
    with pytest.raises(config_lib.ConfigError) as error:
        config_loader.load_config(write(tmp_path, text))
    assert key in str(error.value)


def test_image_size_defaults_to_the_backbones_native_size():
    config = config_loader.config_from_dict({"trainer": {"backbone": "EfficientNetV2S"}})
    assert config.image_size == 384
    config = config_loader.config_from_dict({"preprocessing": {"image_size": 64}})
    assert config.image_size == 64


def test_a_backbone_list_is_a_choice_the_tuner_makes_at_the_shared_native_size(tmp_path):
    def ids(trainer):
        raw = {
            "trainer": trainer,
            "schema_file": "schema/digits.pbtxt",
            "output_dir": str(tmp_path),
        }
        return [node.id for node in create_pipeline(config_loader.config_from_dict(raw)).components]

    config = config_loader.config_from_dict({"trainer": {"backbone": ["VGG16", "ResNet50"]}})
    assert config.trainer.candidates == ("VGG16", "ResNet50")
    assert config.image_size == 224
    chosen = ids({"backbone": ["VGG16", "ResNet50"]})
    assert nodes.TUNER in chosen and chosen.index(nodes.TUNER) < chosen.index(nodes.TRAINER)
    assert nodes.TUNER not in ids({"backbone": "VGG16"})


def test_overrides_are_parsed_as_yaml_values(tmp_path):
    path = write(tmp_path, "trainer:\n  epochs: 3\n")
    config = config_loader.load_config(
        path, ["trainer.epochs=7", "trainer.learning_rate=0.01", "data.root=/data/x"]
    )
    assert config.trainer.epochs == 7
    assert config.trainer.learning_rate == 0.01
    assert config.data.root == "/data/x"


def test_malformed_override(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="expected the form section.key=value"):
        config_loader.load_config(write(tmp_path, ""), ["trainer.epochs"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="config file not found"):
        config_loader.load_config(tmp_path / "nope.yaml")
    with pytest.raises(config_lib.ConfigError, match="not valid YAML"):
        config_loader.load_config(write(tmp_path, "trainer: [unclosed\n"))


def test_config_is_frozen():
    config = config_loader.config_from_dict({})
    with pytest.raises(AttributeError):
        config.trainer.epochs = 3  # type: ignore[misc]


def test_files_are_layered_later_ones_winning(tmp_path):
    base = write(tmp_path, "trainer:\n  epochs: 3\n  batch_size: 8\nbeam_pipeline_args: [--a=1]\n")
    layer = tmp_path / "layer.yaml"
    layer.write_text("trainer:\n  epochs: 5\nbeam_pipeline_args: [--b=2]\n")
    config = config_loader.load_config([base, layer])
    assert (config.trainer.epochs, config.trainer.batch_size) == (5, 8)
    assert config.beam_pipeline_args == ("--b=2",)  # lists are replaced, not appended


def test_uris_are_kept_and_local_paths_made_absolute(tmp_path):
    config = config_loader.load_config(
        write(tmp_path, "output_dir: gs://bucket/out\ndata:\n  root: data/x\n")
    )
    assert config.output_dir == "gs://bucket/out"
    assert Path(config.data.root).is_absolute()


def test_component_settings_are_strict(tmp_path):
    config = config_loader.load_config(
        write(tmp_path, "components:\n  Transform:\n    resources: {cpu: 2, memory_gb: 8}\n")
    )
    assert config.components["Transform"].resources.cpu == 2.0
    for text, message in [
        (
            "components:\n  Transform:\n    resources: {cpus: 2}\n",
            "'components.Transform.resources.cpus'",
        ),
        (
            "components:\n  Trainer:\n    resources: {gpu: 1}\n",
            "gpu_type: expected the accelerator's name with gpu: 1",
        ),
        ("kubeflow:\n  schedule: '0 2 * * *'\n", "kubeflow.schedule: expected six cron fields"),
        ("evaluation:\n  baseline: previous\n", "evaluation.baseline: expected one of"),
    ]:
        with pytest.raises(config_lib.ConfigError, match=message):
            config_loader.load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    "text, key",
    [
        ("data:\n  manifest: labels.txt\n", "data.manifest: expected a .csv or .jsonl"),
        (
            "data:\n  span_pattern: span-*\n",
            "data.span_pattern: expected a folder name with {SPAN}",
        ),
        ("data:\n  latest_spans: 0\n", "data.latest_spans: expected at least 1"),
        ("data:\n  min_side: 0\n", "data.min_side: expected at least 1"),
        ("data:\n  min_side: 32\n  max_pixels: 100\n", "data.max_pixels: expected at least"),
        ("data:\n  max_quarantine_fraction: 2\n", "data.max_quarantine_fraction"),
        ("data:\n  min_images_per_class: -1\n", "data.min_images_per_class: expected"),
        (
            "data:\n  max_pixels: 60000000\n",
            "serving.max_pixels: expected at least data.max_pixels (60000000)",
        ),
        ("validation:\n  on_anomalies: ignore\n", "validation.on_anomalies: expected stop or warn"),
        ("validation:\n  max_drift: {source: 0.1}\n", "validation.max_drift.source"),
        ("validation:\n  max_skew: {label: 2}\n", "validation.max_skew.label: expected a number"),
        ("validation:\n  max_drift: {label: 0}\n", "validation.max_drift.label: expected a number"),
        ("validation:\n  max_drift: {label: high}\n", "validation.max_drift.label"),
    ],
)
def test_bad_ingestion_and_validation_values_name_the_key(tmp_path, text, key):
    with pytest.raises(config_lib.ConfigError) as error:
        config_loader.load_config(write(tmp_path, text))
    assert key in str(error.value)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "*"),
        ("data:\n  manifest: labels.csv\n", "labels.csv"),
        ("data:\n  span_pattern: span-{SPAN}\n", "span-{SPAN}/*"),
        ("data:\n  span_pattern: 'day {SPAN}'\n  manifest: m.jsonl\n", "day {SPAN}/m.jsonl"),
    ],
)
def test_input_pattern_for_folders_manifests_and_spans(tmp_path, text, pattern):
    assert config_loader.load_config(write(tmp_path, text)).data.input_pattern == pattern


def test_qat_is_off_by_default_and_loads_with_its_epochs(tmp_path):
    assert not config_loader.config_from_dict({}).tflite.qat
    config = config_loader.load_config(write(tmp_path, "tflite:\n  qat: true\n  qat_epochs: 3\n"))
    assert (config.tflite.qat, config.tflite.qat_epochs) == (True, 3)
