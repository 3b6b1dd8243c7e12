"""`init`'s parts that need no pipeline run: the config writer, widening a schema, the
choices that depend on the machine or the split sizes. tests/e2e/test_init.py runs `init`
on a folder of images and the pipeline after it."""

import http.server
import socket
import threading
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline import config as config_lib
from pipeline import config_loader, init
from trainer import backbones

REPO = Path(__file__).resolve().parents[2]

TEXT = """# header
pipeline_name: x
trainer:
  epochs: 15                          # both phases together
  fine_tuning:                        # with pretrained weights only
    head_epochs: 3                    # phase 1
beam_pipeline_args:                   # per runner
  - --direct_running_mode=in_memory
  - --direct_num_workers=1

components: {}
"""


def test_set_key_keeps_the_comment_and_writes_why_above():
    text = init.set_key(TEXT, "trainer.epochs", 20, "more epochs from scratch")
    assert "  # more epochs from scratch\n  epochs: 20" in text
    assert "  epochs: 20                          # both phases together\n" in text
    assert yaml.safe_load(text)["trainer"]["epochs"] == 20


def test_set_key_finds_nested_keys_and_replaces_a_block_value():
    text = init.set_key(TEXT, "trainer.fine_tuning.head_epochs", 5)
    text = init.set_key(text, "beam_pipeline_args", ["--direct_num_workers=2"])
    loaded = yaml.safe_load(text)
    assert loaded["trainer"]["fine_tuning"]["head_epochs"] == 5
    assert loaded["beam_pipeline_args"] == ["--direct_num_workers=2"]
    assert loaded["components"] == {}
    assert "in_memory" not in text
    assert "beam_pipeline_args: [--direct_num_workers=2] # per runner\n\ncomponents" in text


def test_set_key_quotes_what_yaml_would_misread():
    text = init.set_key(TEXT, "pipeline_name", "")
    assert yaml.safe_load(text)["pipeline_name"] == ""
    text = init.set_key(TEXT, "pipeline_name", "yes")
    assert yaml.safe_load(text)["pipeline_name"] == "yes"


def test_set_key_refuses_a_key_the_text_lacks():
    with pytest.raises(KeyError, match="trainer.epoch"):
        init.set_key(TEXT, "trainer.epoch", 3)
    with pytest.raises(KeyError, match="epochs"):
        init.set_key(TEXT, "epochs", 3)  # only under trainer


def test_the_config_text_reads_back_as_the_config_it_describes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, values = init.proposed_config(
        "data/pets", Path("configs/pets.yaml"), ["trainer.backbone=EfficientNetB1"]
    )
    chosen = [
        init.Choice("preprocessing.image_size", 96, "why"),
        init.Choice("validation.max_skew", {"label": 0.35, "format": 0.3}, "why"),
    ]
    path = tmp_path / "pets.yaml"
    path.write_text(init.config_text(values, chosen, ["a header"]))
    loaded = config_loader.load_config(path)
    assert loaded.pipeline_name == "pets"
    assert loaded.schema_file == str(tmp_path / "configs" / "pets.schema.pbtxt")
    assert loaded.data.root == str(tmp_path / "data" / "pets")
    assert loaded.serving.model_name == "pets"
    assert loaded.trainer.backbone == "EfficientNetB1"
    assert loaded.preprocessing.image_size == 96
    assert loaded.validation.max_skew == {"label": 0.35, "format": 0.3}
    assert path.read_text().startswith("# a header\npipeline_name: pets")
    assert config.trainer.backbone == "EfficientNetB1"


def test_the_config_must_be_a_yaml_file_and_overrides_are_checked():
    with pytest.raises(config_lib.ConfigError, match="expected a .yaml file name"):
        init.proposed_config("data", Path("configs/pets.txt"), [])
    with pytest.raises(config_lib.ConfigError, match="trainer.epochs: expected at least 1"):
        init.proposed_config("data", Path("configs/pets.yaml"), ["trainer.epochs=0"])


SCHEMA = """
feature { name: "label" type: BYTES domain: "label" }
feature { name: "format" type: BYTES domain: "format" }
feature { name: "height" type: INT int_domain { min: 8 max: 256 } }
feature { name: "width" type: INT int_domain { min: 8 max: 256 } }
feature { name: "source" type: BYTES }
string_domain { name: "label" value: "cat" value: "dog" }
string_domain { name: "format" value: "JPEG" }
"""


def schema(text=SCHEMA):
    return text_format.Parse(text, schema_pb2.Schema())


def test_widening_adds_new_values_and_stretches_the_bounds_and_keeps_the_rest():
    found = schema(
        SCHEMA.replace('value: "cat" value: "dog"', 'value: "bird" value: "cat"')
        .replace('value: "JPEG"', 'value: "PNG"')
        .replace('max: 256 } }\nfeature { name: "width"', 'max: 512 } }\nfeature { name: "width"')
    )
    existing = schema()
    existing.feature[4].presence.min_fraction = 0.5  # a hand edit
    widened, changes = init.widened_schema(existing, found)
    assert changes == ["label: added bird", "format: added PNG", "height: max 256 -> 512"]
    domains = {domain.name: list(domain.value) for domain in widened.string_domain}
    assert domains == {"label": ["cat", "dog", "bird"], "format": ["JPEG", "PNG"]}
    assert widened.feature[2].int_domain.max == 512
    assert widened.feature[3].int_domain.max == 256
    assert widened.feature[4].presence.min_fraction == 0.5
    assert list(existing.string_domain[0].value) == ["cat", "dog"]  # a copy was widened


def test_widening_what_already_fits_changes_nothing():
    widened, changes = init.widened_schema(schema(), schema())
    assert changes == []
    assert widened == schema()


def discovery(train, eval_):
    def statistics(count):
        listed = statistics_pb2.DatasetFeatureStatisticsList()
        listed.datasets.add(num_examples=count)
        return listed

    return init.Discovery(
        ingestion={},
        report_dir="",
        statistics={"train": statistics(train), "eval": statistics(eval_)},
        inferred=schema_pb2.Schema(),
    )


def test_skew_limits_are_raised_to_what_chance_gives_a_small_split():
    config = config_loader.config_from_dict({})
    (choice,) = init._skew_limits(config, discovery(96, 24))  # noqa: SLF001
    assert choice.key == "validation.max_skew"
    assert choice.value == {"label": 0.35, "format": 0.35}
    assert "with 96 train and 24 eval examples, shares differ by chance up to 0.34" in choice.why


def test_skew_limits_stay_with_enough_examples():
    config = config_loader.config_from_dict({})
    assert init._skew_limits(config, discovery(1436, 361)) == []  # noqa: SLF001


def test_imagenet_weights_in_keras_cache_are_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    filename, _ = backbones.BACKBONES["EfficientNetB0"].imagenet_weights_file(224)
    cached = Path(backbones.keras_cache_path(filename))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    config = config_loader.config_from_dict({})
    assert init._weights(config, discovery(96, 24), given=False) == [  # noqa: SLF001
        init.Choice("trainer.weights", "imagenet", f"ImageNet weights found in {cached}")
    ]


def unreachable_url():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return f"http://127.0.0.1:{port}/efficientnetb0_notop.h5"


def test_offline_without_cached_weights_trains_from_scratch_and_says_how_to_fine_tune(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HOME", str(tmp_path))
    url = unreachable_url()
    monkeypatch.setattr(backbones.Backbone, "imagenet_weights_file", lambda _, size: ("b0.h5", url))
    weights, *recipe = init._weights(
        config_loader.config_from_dict({}), discovery(96, 24), given=False
    )  # noqa: SLF001
    assert (weights.key, weights.value) == ("trainer.weights", "none")
    assert f"offline: {url} cannot be reached" in weights.why
    assert f"copy that file to {tmp_path}/.keras/models/b0.h5 and set weights: imagenet" in (
        weights.why
    )
    assert {c.key: c.value for c in recipe} == {**init.FROM_SCRATCH, "trainer.epochs": 300}


def test_a_backbone_without_imagenet_weights_trains_from_scratch():
    config = config_loader.config_from_dict({"trainer": {"backbone": "compact"}})
    weights, *recipe = init._weights(config, discovery(96, 24), given=False)  # noqa: SLF001
    assert (weights.value, weights.why) == (
        "none",
        "compact has no ImageNet weights: it trains from scratch",
    )
    assert {c.key for c in recipe} == {*init.FROM_SCRATCH, "trainer.epochs"}


def test_reachable_weights_are_left_to_keras_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))

    class Head(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Head)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/b0.h5"
    monkeypatch.setattr(backbones.Backbone, "imagenet_weights_file", lambda _, size: ("b0.h5", url))
    try:
        (choice,) = init._weights(
            config_loader.config_from_dict({}), discovery(96, 24), given=False
        )  # noqa: SLF001
    finally:
        server.shutdown()
    assert choice.value == "imagenet"
    assert "Keras downloads b0.h5 on the first run" in choice.why


def test_weights_given_on_the_command_line_bring_only_their_recipe():
    scratch = config_loader.config_from_dict({"trainer": {"weights": "none"}})
    given = init._weights(scratch, discovery(96, 24), given=True)  # noqa: SLF001
    assert {c.key: c.value for c in given} == {**init.FROM_SCRATCH, "trainer.epochs": 300}
    (epochs,) = [c for c in given if c.key == "trainer.epochs"]
    assert epochs.why.endswith("96 training images make 3 batches of 32 an epoch")


def test_from_scratch_takes_at_least_twenty_epochs():
    config = config_loader.config_from_dict({"trainer": {"weights": "none"}})
    (epochs,) = [
        c
        for c in init._weights(config, discovery(1436, 361), given=True)
        if c.key == "trainer.epochs"
    ]  # noqa: SLF001
    assert epochs.value == 20  # 45 batches an epoch: 900 steps in 20
    pretrained = config_loader.config_from_dict({"trainer": {"weights": "imagenet"}})
    assert init._weights(pretrained, discovery(96, 24), given=True) == []  # noqa: SLF001
