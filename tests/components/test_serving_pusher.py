"""ServingPusher: TFX's Pusher contract (blessing gate, pushed_* properties) with versions
published whole and pruned, run on a real SavedModel; TF Serving's warm-up requests made of
real eval images, read back with TF Serving's protos and replayed through the model; the
model card shipped beside them."""

import json
from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx import types
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from components.evaluation_report import model_card
from components.evaluation_report.component import EvaluationReportArtifact
from components.serving_pusher import executor, warmup
from components.serving_pusher.component import ServingPusher
from pipeline import config_loader, nodes
from pipeline.config import ConfigError
from pipeline.pipeline import create_pipeline
from tests.components import images
from trainer import features


class Multiplier(tf.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = tf.Variable(factor)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return self.factor * x


class ImageSizes(tf.Module):
    """A model with the exported model's `serving_default` input: encoded images in, each
    image's decoded shape (height, width, channels) out."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def sizes(self, image_bytes):
        shapes = tf.map_fn(
            lambda image: tf.shape(tf.io.decode_png(image, channels=3)),
            image_bytes,
            fn_output_signature=tf.int32,
        )
        return {"sizes": shapes}


def trained_model(tmp_path, factor: float = 2.0):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model-{factor}")
    tf.saved_model.save(Multiplier(factor), f"{model.uri}/Format-Serving")
    return model


def image_model(tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "image-model")
    module = ImageSizes()
    tf.saved_model.save(
        module, f"{model.uri}/Format-Serving", signatures={"serving_default": module.sizes}
    )
    return model


def eval_pngs(count: int):
    """Real PNGs of different sizes, so each request's output tells which image it held."""
    return [images.encoded("PNG", size=(8 + i, 20 + i), seed=i) for i in range(count)]


def raw_examples(tmp_path, eval_images):
    """Examples as ImageExampleGen writes them: gzipped tf.Examples under Split-<name>/,
    the eval images across two files (read in name order)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    halves = {
        "Split-train/data_tfrecord-00000-of-00001.gz": eval_pngs(1),
        "Split-eval/data_tfrecord-00000-of-00002.gz": eval_images[:3],
        "Split-eval/data_tfrecord-00001-of-00002.gz": eval_images[3:],
    }
    for name, encoded in halves.items():
        path = tmp_path / "examples" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for image in encoded:
                feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))
                example = tf.train.Example(
                    features=tf.train.Features(feature={features.IMAGE_KEY: feature})
                )
                writer.write(example.SerializeToString())
    return examples


def files(tree: Path):
    """Every file under `tree`: relative path -> bytes."""
    return {str(p.relative_to(tree)): p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def warmup_records(saved_model_dir):
    records = tf.data.TFRecordDataset(str(saved_model_dir / warmup.WARMUP_FILE))
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]


def blessing(blessed: int):
    artifact = standard_artifacts.ModelBlessing()
    artifact.set_int_custom_property("blessed", blessed)
    return artifact


def report(tmp_path, card_files):
    """An EvaluationReport's output folder holding `card_files` (name -> text)."""
    artifact = EvaluationReportArtifact()
    artifact.uri = str(tmp_path / "report")
    Path(artifact.uri).mkdir()
    for name, text in card_files.items():
        Path(artifact.uri, name).write_text(text)
    return artifact


def push(
    tmp_path,
    model,
    blessed: int,
    keep_versions: int = 2,
    examples=None,
    warmup_requests=0,
    card=None,
):
    pusher = ServingPusher(
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        base_directory=str(tmp_path / "serving"),
        keep_versions=keep_versions,
        examples=types.Channel(type=standard_artifacts.Examples) if examples else None,
        warmup_requests=warmup_requests,
        model_card=types.Channel(type=EvaluationReportArtifact) if card else None,
    )
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed" / str(len(list(tmp_path.glob("pushed/*")))))  # per push
    executor.Executor().Do(
        {
            standard_component_specs.MODEL_KEY: [model],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing(blessed)],
            **({executor.EXAMPLES_KEY: [examples]} if examples else {}),
            **({executor.MODEL_CARD_KEY: [card]} if card else {}),
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        pusher.exec_properties,
    )
    return pushed


def test_blessed_model_is_published_loadable_and_old_versions_pruned(tmp_path):
    pushed = [push(tmp_path, trained_model(tmp_path, f), blessed=1) for f in (4.0, 3.0, 2.0)]

    versions = sorted((tmp_path / "serving").iterdir())
    assert [p.name for p in versions] == [
        pushed[1].get_string_custom_property("pushed_version"),
        pushed[2].get_string_custom_property("pushed_version"),
    ]
    latest = pushed[2].get_string_custom_property("pushed_destination")
    assert latest == str(versions[-1])
    assert all(p.get_int_custom_property("pushed") == 1 for p in pushed)
    served = tf.saved_model.load(latest)
    assert served(tf.constant([1.5])).numpy().tolist() == [3.0]


def test_the_same_model_pushed_again_stays_the_current_version(tmp_path):
    older, current = trained_model(tmp_path, 3.0), trained_model(tmp_path, 2.0)
    first = push(tmp_path, older, blessed=1)
    pushed = [push(tmp_path, current, blessed=1) for _ in range(3)]

    versions = {p.get_string_custom_property("pushed_version") for p in pushed}
    assert len(versions) == 1
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == sorted(
        [first.get_string_custom_property("pushed_version"), *versions]
    )
    assert all(p.get_int_custom_property("pushed") == 1 for p in pushed)


def test_unblessed_model_is_not_pushed_and_the_served_version_is_untouched(tmp_path):
    model = trained_model(tmp_path)
    served = push(tmp_path, model, blessed=1).get_string_custom_property("pushed_destination")
    before = sorted(p.name for p in (tmp_path / "serving").rglob("*"))

    refused = push(tmp_path, model, blessed=0)

    assert refused.get_int_custom_property("pushed") == 0
    assert sorted(p.name for p in (tmp_path / "serving").rglob("*")) == before
    assert tf.saved_model.load(served)(tf.constant([1.0])).numpy().tolist() == [2.0]


def test_the_pushed_model_carries_warmup_requests_of_the_first_eval_images(tmp_path):
    pngs = eval_pngs(5)
    pushed = push(
        tmp_path, image_model(tmp_path), 1, examples=raw_examples(tmp_path, pngs), warmup_requests=4
    )

    published = tmp_path / "serving" / pushed.get_string_custom_property("pushed_version")
    logs = warmup_records(published)
    assert len(logs) == 4
    requests = [log.predict_log.request for log in logs]
    assert {r.model_spec.signature_name for r in requests} == {"serving_default"}
    assert [list(r.inputs) for r in requests] == [["image_bytes"]] * 4
    sent = [tf.make_ndarray(r.inputs["image_bytes"]) for r in requests]
    assert [batch.tolist() for batch in sent] == [[png] for png in pngs[:4]]
    serve = tf.saved_model.load(str(published)).signatures["serving_default"]
    for index, batch in enumerate(sent):
        sizes = serve(image_bytes=tf.constant(batch))["sizes"].numpy()
        assert sizes.tolist() == [[20 + index, 8 + index, 3]]
    # The archive copy in the Pusher's artifact and the published version: the same bytes.
    assert files(Path(pushed.uri)) == files(published)


def test_fewer_eval_images_than_asked_give_one_request_each(tmp_path):
    pngs = eval_pngs(5)
    pushed = push(
        tmp_path, image_model(tmp_path), 1, examples=raw_examples(tmp_path, pngs), warmup_requests=8
    )

    published = tmp_path / "serving" / pushed.get_string_custom_property("pushed_version")
    sent = [
        tf.make_ndarray(log.predict_log.request.inputs["image_bytes"]).tolist()
        for log in warmup_records(published)
    ]
    assert sent == [[png] for png in pngs]


def test_no_warmup_file_with_zero_requests_or_without_examples(tmp_path):
    zero = push(tmp_path, image_model(tmp_path), 1, examples=raw_examples(tmp_path, eval_pngs(5)))
    without_examples = push(tmp_path, trained_model(tmp_path), 1)

    for pushed in (zero, without_examples):
        published = Path(pushed.get_string_custom_property("pushed_destination"))
        assert (published / "saved_model.pb").is_file()
        assert not (published / "assets.extra").exists()
        assert files(Path(pushed.uri)) == files(published)
    served = tf.saved_model.load(without_examples.get_string_custom_property("pushed_destination"))
    assert served(tf.constant([1.0])).numpy().tolist() == [2.0]


def test_the_pushed_model_carries_the_model_card_beside_the_warmup_requests(tmp_path):
    card = {model_card.CARD_FILE: '{"schema_version": "0.0.2"}', model_card.CARD_PAGE: "<h1>c</h1>"}
    pushed = push(
        tmp_path,
        image_model(tmp_path),
        1,
        examples=raw_examples(tmp_path, eval_pngs(2)),
        warmup_requests=2,
        card=report(tmp_path, {**card, "report.html": "<h1>r</h1>"}),
    )

    published = Path(pushed.get_string_custom_property("pushed_destination"))
    extra = published / "assets.extra"
    assert {p.name for p in extra.iterdir()} == {*card, "tf_serving_warmup_requests"}
    assert {name: (extra / name).read_text() for name in card} == card
    assert files(Path(pushed.uri)) == files(published)
    assert len(warmup_records(published)) == 2


def test_a_report_without_a_card_stops_the_push_and_names_the_file(tmp_path):
    incomplete = report(tmp_path, {model_card.CARD_FILE: "{}"})
    with pytest.raises(
        FileNotFoundError, match=f"No model card at .*report/{model_card.CARD_PAGE}"
    ):
        push(tmp_path, trained_model(tmp_path), 1, card=incomplete)
    assert not (tmp_path / "serving").exists()


def test_warmup_requests_without_examples_is_refused_when_the_dag_is_built():
    with pytest.raises(ValueError, match="warmup_requests=8 needs the `examples`"):
        ServingPusher(
            model=types.Channel(type=standard_artifacts.Model),
            model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            base_directory="/serving",
            keep_versions=1,
            warmup_requests=8,
        )


def test_eval_split_without_examples_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="No eval examples to warm TF Serving up with"):
        push(
            tmp_path,
            image_model(tmp_path),
            1,
            examples=raw_examples(tmp_path, []),
            warmup_requests=8,
        )
    assert not (tmp_path / "serving").exists()


@pytest.mark.parametrize("requests", [-1, 1001])
def test_warmup_requests_out_of_tf_servings_range_is_a_config_error(requests):
    with pytest.raises(
        ConfigError, match="serving.warmup_requests: expected a whole number from 0"
    ):
        config_loader.config_from_dict(
            {"schema_file": "s.pbtxt", "serving": {"warmup_requests": requests}}
        )


def test_the_dag_pushes_through_serving_pusher_with_the_configured_versions():
    config = config_loader.config_from_dict(
        {
            "output_dir": "/runs/x",
            "schema_file": "s.pbtxt",
            "serving": {"keep_versions": 3, "warmup_requests": 5},
        }
    )
    components = {c.id: c for c in create_pipeline(config).components}
    pusher = components[nodes.PUSHER]
    assert isinstance(pusher, ServingPusher)
    assert pusher.inputs["model_blessing"].producer_component_id == nodes.EVALUATOR
    assert pusher.inputs["examples"] is components[nodes.EVALUATOR].inputs["examples"]
    assert pusher.inputs["model_card"].producer_component_id == nodes.EVALUATION_REPORT
    assert json.loads(pusher.exec_properties["custom_config"]) == {
        "keep_versions": 3,
        "warmup_requests": 5,
    }
