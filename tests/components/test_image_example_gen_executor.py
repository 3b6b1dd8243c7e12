"""The real ImageExampleGen executor in Beam: splits by content hash, report, reconciliation."""

import json

import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.image_example_gen import executor
from tests.components.images import encoded


def run_executor(input_base, output_dir, train=8, eval_=2):
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir)
    exec_properties = {
        "input_base": str(input_base),
        "input_config": proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern="*")])
        ),
        "output_config": proto_utils.proto_to_json(
            example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[
                        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train),
                        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_),
                    ],
                    partition_feature_name="sha256",
                )
            )
        ),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    executor.Executor().Do({}, {"examples": [examples]}, exec_properties)
    return examples


def read_split(examples, split):
    files = tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    result = []
    for record in records:
        example = tf.train.Example.FromString(record.numpy())
        result.append(
            {
                key: (
                    value.bytes_list.value[0]
                    if value.bytes_list.value
                    else value.int64_list.value[0]
                )
                for key, value in example.features.feature.items()
            }
        )
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, digits_subset):
    """The digits subset plus a copy of one image, a broken file and litter."""
    root = tmp_path_factory.mktemp("corpus")
    for path in digits_subset.rglob("*.png"):
        target = root / path.relative_to(digits_subset)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (root / "0" / "copy_of_first.png").write_bytes((root / "0" / "digit_0000.png").read_bytes())
    (root / "1" / "broken.jpg").write_bytes(encoded("JPEG", size=(64, 64))[:200])
    (root / "2" / ".DS_Store").write_bytes(b"litter")
    return root


@pytest.fixture(scope="module")
def ingested(corpus, tmp_path_factory):
    return run_executor(corpus, tmp_path_factory.mktemp("examples"))


def test_every_file_is_accounted_for(ingested):
    summary = executor.read_summary(ingested.uri)
    assert summary == {
        "files_seen": 183,
        "examples": 181,
        "quarantined": 1,
        "ignored": 1,
        "classes": ["0", "1", "2"],
    }
    assert ingested.get_int_custom_property("examples") == 181
    assert ingested.get_int_custom_property("quarantined") == 1
    examples = read_split(ingested, "train") + read_split(ingested, "eval")
    assert len(examples) == 181


def test_report_names_the_quarantined_and_ignored_files(ingested):
    report = f"{ingested.uri}/{executor.REPORT_DIR}"
    with open(f"{report}/{executor.QUARANTINE_FILE}") as handle:
        quarantined = [json.loads(line) for line in handle]
    assert [(q["path"], q["reason"]) for q in quarantined] == [("1/broken.jpg", "undecodable")]
    with open(f"{report}/{executor.IGNORED_FILE}") as handle:
        ignored = [json.loads(line) for line in handle]
    assert [(i["path"], i["reason"]) for i in ignored] == [("2/.DS_Store", "hidden or litter file")]


def test_split_is_by_content_hash(ingested):
    train, eval_ = read_split(ingested, "train"), read_split(ingested, "eval")
    train_hashes = {e["sha256"] for e in train}
    eval_hashes = {e["sha256"] for e in eval_}
    assert not train_hashes & eval_hashes  # identical images never straddle the splits
    copies = [
        e for e in train + eval_ if e["source"] in (b"0/digit_0000.png", b"0/copy_of_first.png")
    ]
    assert len(copies) == 2
    assert len({e["sha256"] for e in copies}) == 1
    assert 0.1 < len(eval_) / (len(train) + len(eval_)) < 0.3  # 2 of 10 hash buckets


def test_split_is_stable_across_runs(ingested, corpus, tmp_path):
    again = run_executor(corpus, tmp_path / "again")
    for split in ("train", "eval"):
        first = sorted(e["source"] for e in read_split(ingested, split))
        second = sorted(e["source"] for e in read_split(again, split))
        assert first == second


def test_examples_follow_the_data_contract(ingested):
    example = read_split(ingested, "train")[0]
    assert set(example) == {"image", "label", "height", "width", "format", "source", "sha256"}
    assert example["label"].decode() == example["source"].decode().split("/")[0]
    assert (example["height"], example["width"], example["format"]) == (8, 8, b"PNG")
    image = tf.io.decode_image(example["image"], channels=3, expand_animations=False)
    assert image.shape == (8, 8, 3)
