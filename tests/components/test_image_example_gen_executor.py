"""The real ImageExampleGen executor in Beam: splits by content hash, report, reconciliation."""

import gzip
import shutil

import pytest
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2

from components.image_example_gen import executor, rows
from components.image_example_gen.standalone import run_executor
from tests.components.images import encoded
from tests.components.ingestion import read_report, read_split


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
    counts = executor.read_counts(ingested.uri)
    assert counts == {
        "files_seen": 183,
        "examples": 180,
        "quarantined": 1,
        "ignored": 1,
        "duplicates": 1,
        "reasons": {rows.TRUNCATED: 1},
        "classes": ["0", "1", "2"],
        "examples_per_class": {"0": 60, "1": 60, "2": 60},
        "empty_classes": [],
        "shorter_side": {"min": 8, "median": 8, "max": 8},
        "shorter_side_per_class": {c: {"min": 8, "median": 8, "max": 8} for c in "012"},
    }
    assert ingested.get_int_custom_property("examples") == 180
    assert ingested.get_int_custom_property("duplicates") == 1
    examples = read_split(ingested, "train") + read_split(ingested, "eval")
    assert len(examples) == 180


def test_report_names_every_file_that_is_not_an_example(ingested):
    assert read_report(ingested, executor.QUARANTINE_FILE) == [("1/broken.jpg", rows.TRUNCATED)]
    assert read_report(ingested, executor.IGNORED_FILE) == [("2/.DS_Store", rows.HIDDEN)]
    assert read_report(ingested, executor.DUPLICATES_FILE) == [("0/digit_0000.png", rows.DUPLICATE)]


def test_split_is_by_content_hash(ingested):
    train, eval_ = read_split(ingested, "train"), read_split(ingested, "eval")
    assert not {e["sha256"] for e in train} & {e["sha256"] for e in eval_}
    assert len({e["sha256"] for e in train + eval_}) == len(train + eval_)
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


def test_splits_are_gzip_tfrecords_with_the_image_bytes_stored(ingested):
    assert examples_utils.get_file_format(ingested) == "tfrecords_gzip"
    assert examples_utils.get_payload_format(ingested) == example_gen_pb2.FORMAT_TF_EXAMPLE
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(f"{ingested.uri}/Split-{split}/data_tfrecord-*.gz")
        assert files
        for path in files:
            with open(path, "rb") as handle:
                stored = handle.read()
            # A GZIP stream of stored deflate blocks: the records plus headers and checksums.
            assert stored[:2] == b"\x1f\x8b"
            records = len(gzip.decompress(stored))
            assert records < len(stored) < 1.01 * records + 64


def test_too_much_quarantine_fails_the_run_with_the_reasons(corpus, tmp_path):
    with pytest.raises(rows.IngestError) as error:
        run_executor(corpus, tmp_path, max_quarantine_fraction=0.001)
    message = str(error.value)
    kept = tmp_path / "rejected" / "1" / executor.QUARANTINE_FILE
    assert f"{kept}" in message
    assert kept.read_text().count("\n") == 1  # kept where TFX will not delete it
    assert "1 of 182 files quarantined" in message
    assert "1 truncated" in message
    assert "data.max_quarantine_fraction=0.001" in message
    assert "\n" not in message


def test_manifest_rows_name_label_and_split(tmp_path):
    data = tmp_path / "data"
    (data / "pics").mkdir(parents=True)
    lines = ["path,label,split"]
    for index in range(12):
        name = f"pics/{index}.png"
        (data / name).write_bytes(encoded("PNG", size=(10, 10), seed=index))
        label = "even" if index % 2 == 0 else "odd"
        lines.append(f"{name},{label},{'eval' if index < 4 else ''}")
    lines.append("pics/missing.png,odd,")
    (data / "labels.csv").write_text("\n".join(lines) + "\n")

    examples = run_executor(data, tmp_path / "out", pattern="labels.csv", train=1, eval_=1000)

    counts = executor.read_counts(examples.uri)
    assert (counts["files_seen"], counts["examples"], counts["quarantined"]) == (13, 12, 1)
    assert read_report(examples, executor.QUARANTINE_FILE) == [
        ("pics/missing.png", rows.UNREADABLE)
    ]
    train = {e["source"]: e["label"] for e in read_split(examples, "train")}
    eval_ = {e["source"]: e["label"] for e in read_split(examples, "eval")}
    assert {b"pics/0.png", b"pics/1.png", b"pics/2.png", b"pics/3.png"} <= set(eval_)
    assert not {b"pics/0.png", b"pics/1.png", b"pics/2.png", b"pics/3.png"} & set(train)
    assert eval_[b"pics/1.png"] == b"odd"
    assert len(train) + len(eval_) == 12


def test_an_empty_class_folder_fails_the_run_by_default(corpus, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    (data / "7" / ".thumbnails").mkdir(parents=True)
    with pytest.raises(rows.IngestError) as error:
        run_executor(data, tmp_path / "out")
    message = str(error.value)
    assert "fewer than data.min_images_per_class=1 images: 7/ 0" in message
    assert "data.min_images_per_class (0 reports empty class folders and goes on)" in message


def test_an_empty_class_folder_is_reported_when_allowed(corpus, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    (data / "7").mkdir()
    examples = run_executor(data, tmp_path / "out", min_images_per_class=0)
    counts = executor.read_counts(examples.uri)
    assert counts["empty_classes"] == ["7"]
    assert counts["examples_per_class"]["7"] == 0
    assert counts["examples_per_class"]["1"] == 60
    assert read_report(examples, executor.EMPTY_CLASSES_FILE) == [("7/", rows.EMPTY_CLASS)]


def test_examples_from_an_earlier_ingestion_name_the_way_out(tmp_path):
    """An Examples artifact from before counts.json (its counts in summary.json), as TFX's
    cache may hand it back, is an IngestError naming the file and the fix, not a traceback."""
    report_dir = tmp_path / "examples" / executor.REPORT_DIR
    report_dir.mkdir(parents=True)
    (report_dir / "summary.json").write_text('{"examples": 3}')
    with pytest.raises(rows.IngestError, match=r"counts\.json: not found.*new output_dir"):
        executor.read_counts(str(tmp_path / "examples"))
