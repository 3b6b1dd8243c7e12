"""Ingestion logic on real image bytes: listing, reading, quarantine reasons, the contract."""

import hashlib
import io

import pytest
import tensorflow as tf
from PIL import Image

from components.image_example_gen import ingest
from tests.components.images import encoded


def feature(example, key):
    value = example.features.feature[key]
    return value.bytes_list.value[0] if value.bytes_list.value else value.int64_list.value[0]


def source(tmp_path, name, data, label="cat"):
    path = tmp_path / name
    path.write_bytes(data)
    return ingest.SourceFile(str(path), name, label)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "BMP"])
def test_tensorflow_formats_are_stored_as_is(tmp_path, image_format):
    data = encoded(image_format, size=(12, 10))
    example = ingest.read_example(source(tmp_path, f"a.{image_format.lower()}", data))
    assert isinstance(example, tf.train.Example)
    assert feature(example, "image") == data
    assert feature(example, "label") == b"cat"
    assert (feature(example, "height"), feature(example, "width")) == (10, 12)
    assert feature(example, "format") == image_format.encode()
    assert feature(example, "source") == f"a.{image_format.lower()}".encode()
    assert feature(example, "sha256") == hashlib.sha256(data).hexdigest().encode()
    decoded = tf.io.decode_image(feature(example, "image"), channels=3, expand_animations=False)
    assert decoded.shape == (10, 12, 3)


@pytest.mark.parametrize("image_format", ["WEBP", "TIFF"])
def test_other_formats_are_re_encoded_so_tensorflow_can_decode_them(tmp_path, image_format):
    data = encoded(image_format, size=(9, 7), mode="RGBA")
    example = ingest.read_example(source(tmp_path, "photo.bin", data))
    assert isinstance(example, tf.train.Example)
    assert feature(example, "format") == image_format.encode()
    assert feature(example, "sha256") == hashlib.sha256(data).hexdigest().encode()
    assert Image.open(io.BytesIO(feature(example, "image"))).format == "PNG"
    decoded = tf.io.decode_image(feature(example, "image"), channels=3, expand_animations=False)
    assert decoded.shape == (7, 9, 3)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "zero-byte file"),
        (b"just some text, not pixels", "not an image"),
        (encoded("JPEG", size=(64, 64))[:300], "undecodable"),
        (encoded("PNG", size=(64, 64))[:100], "undecodable"),
    ],
)
def test_broken_files_are_quarantined_with_a_reason(tmp_path, data, reason):
    record = ingest.read_example(source(tmp_path, "broken.png", data))
    assert isinstance(record, ingest.Record)
    assert record.path == "broken.png"
    assert record.reason == reason


def test_unreadable_file_is_quarantined(tmp_path):
    missing = ingest.SourceFile(str(tmp_path / "gone.png"), "gone.png", "cat")
    record = ingest.read_example(missing)
    assert record.reason == "unreadable"


def test_listing_accounts_for_every_file(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / label / "nested").mkdir(parents=True)
        (tmp_path / label / "1.png").write_bytes(encoded("PNG"))
        (tmp_path / label / "nested" / "2.jpg").write_bytes(encoded("JPEG"))
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "dog" / "Thumbs.db").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "3.png").write_bytes(encoded("PNG"))
    (tmp_path / "README.txt").write_text("about the data")

    listing = ingest.list_class_folders(tmp_path)

    assert listing.classes == ["cat", "dog"]
    assert sorted(f.relative for f in listing.files) == [
        "cat/1.png",
        "cat/nested/2.jpg",
        "dog/1.png",
        "dog/nested/2.jpg",
    ]
    assert {f.label for f in listing.files if f.relative.startswith("dog/")} == {"dog"}
    assert sorted((r.path, r.reason) for r in listing.ignored) == [
        (".hidden", "hidden or litter file"),
        ("README.txt", "outside any class folder"),
        ("cat/.DS_Store", "hidden or litter file"),
        ("dog/Thumbs.db", "hidden or litter file"),
    ]
    assert listing.files_seen == 8


def test_missing_folder(tmp_path):
    with pytest.raises(ingest.IngestError, match="data folder not found"):
        ingest.list_class_folders(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "cat").mkdir()
    with pytest.raises(ingest.IngestError, match="no files found in class sub-folders"):
        ingest.list_class_folders(tmp_path)


def test_single_class(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.png").write_bytes(encoded("PNG"))
    with pytest.raises(ingest.IngestError, match="at least two classes"):
        ingest.list_class_folders(tmp_path)
