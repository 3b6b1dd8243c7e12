"""Ingestion logic on real image bytes: listing, manifests, formats, quarantine reasons, dedup."""

import hashlib
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.image_example_gen import ingest
from tests.components import images
from trainer import decode


def feature(example, key):
    value = tf.train.Example.FromString(example).features.feature[key]
    return value.bytes_list.value[0] if value.bytes_list.value else value.int64_list.value[0]


SMALL_IMAGES_OK = ingest.Limits(min_side=4)


def read(tmp_path, name, data, label="cat", limits=SMALL_IMAGES_OK):
    path = tmp_path / name
    path.write_bytes(data)
    return ingest.read_file(ingest.SourceFile(str(path), name, label), limits)


def decoded(result):
    """The stored image as Transform and serving decode it (trainer/decode.py)."""
    return decode.decode(tf.constant(feature(result.example, "image"))).numpy()


@pytest.mark.parametrize(
    "image_format, mode, options",
    [
        ("PNG", "RGB", {}),
        ("PNG", "L", {}),
        ("PNG", "RGBA", {}),
        ("PNG", "P", {}),
        ("JPEG", "RGB", {}),
        ("JPEG", "RGB", {"progressive": True}),
        ("JPEG", "L", {}),
        ("GIF", "P", {}),
        ("BMP", "RGB", {}),
    ],
)
def test_formats_tensorflow_reads_are_stored_as_is(tmp_path, image_format, mode, options):
    data = images.encoded(image_format, size=(12, 10), mode=mode, **options)
    result = read(tmp_path, "a.bin", data)
    assert isinstance(result, ingest.Ingested)
    assert feature(result.example, "image") == data
    assert feature(result.example, "label") == b"cat"
    assert (feature(result.example, "height"), feature(result.example, "width")) == (10, 12)
    assert feature(result.example, "format") == image_format.encode()
    assert feature(result.example, "source") == b"a.bin"
    assert feature(result.example, "sha256") == hashlib.sha256(data).hexdigest().encode()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=int)
    assert np.abs(decoded(result).astype(int) - expected).max() <= 3  # JPEG IDCT rounding


@pytest.mark.parametrize(
    "name, data, image_format",
    [
        ("photo.webp", images.encoded("WEBP", size=(12, 10), mode="RGBA"), "WEBP"),
        ("scan.TIFF", images.encoded("TIFF", size=(12, 10)), "TIFF"),
        ("print.jpg", images.encoded("JPEG", size=(12, 10), mode="CMYK"), "JPEG"),
        ("deep.png", images.png_16_bit(size=(12, 10)), "PNG"),
        ("palette.bmp", images.encoded("BMP", size=(12, 10), mode="P"), "BMP"),
        ("mono.bmp", images.encoded("BMP", size=(12, 10), mode="1"), "BMP"),
    ],
)
def test_formats_tensorflow_misreads_are_re_encoded(tmp_path, name, data, image_format):
    result = read(tmp_path, name, data)
    assert isinstance(result, ingest.Ingested)
    assert feature(result.example, "format") == image_format.encode()
    assert feature(result.example, "sha256") == hashlib.sha256(data).hexdigest().encode()
    stored = feature(result.example, "image")
    assert stored != data
    assert decoded(result).shape == (10, 12, 3)


def test_sixteen_bit_png_keeps_its_brightness(tmp_path):
    array = np.full((10, 12), 65535, dtype=np.uint16)
    array[:, :6] = 257 * 100
    result = read(tmp_path, "deep.png", images.save(Image.fromarray(array), "PNG"))
    pixels = decoded(result)
    assert pixels[0, 0].tolist() == [100, 100, 100]
    assert pixels[0, -1].tolist() == [255, 255, 255]


def test_exif_rotated_jpeg_is_kept_as_is_with_its_upright_size(tmp_path):
    data = images.rotated_jpeg(size=(12, 10), orientation=6)
    result = read(tmp_path, "phone.jpg", data)
    assert feature(result.example, "image") == data  # the decode contract applies EXIF
    assert (feature(result.example, "height"), feature(result.example, "width")) == (12, 10)
    assert decoded(result).shape == (12, 10, 3)


def test_gif_keeps_its_first_frame(tmp_path):
    data = images.animated_gif(size=(12, 10))
    result = read(tmp_path, "anim.gif", data)
    first = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(decoded(result), first)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.png", b"", ingest.ZERO_BYTE),
        ("fake.jpg", b"<html>404 not found</html>", ingest.NOT_AN_IMAGE),
        ("cut.jpg", images.encoded("JPEG", size=(64, 64))[:300], ingest.TRUNCATED),
        ("cut.png", images.encoded("PNG", size=(64, 64))[:100], ingest.TRUNCATED),
        ("rot.png", images.corrupted(images.encoded("PNG", size=(64, 64))), ingest.UNDECODABLE),
        ("tiny.png", images.encoded("PNG", size=(3, 40)), ingest.TOO_SMALL),
        ("bomb.png", images.png_header_only(4000, 4000), ingest.TOO_MANY_PIXELS),
        ("huge.png", images.png_header_only(30000, 30000), ingest.TOO_MANY_PIXELS),
    ],
)
def test_broken_files_are_quarantined_with_a_reason(tmp_path, name, data, reason):
    record = read(tmp_path, name, data, limits=ingest.Limits(min_side=4, max_pixels=1_000_000))
    assert isinstance(record, ingest.Record)
    assert (record.path, record.reason, record.ignored) == (name, reason, False)


def identify(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    limits = ingest.Limits(min_side=4, max_pixels=1_000_000)
    return ingest.identify(ingest.SourceFile(str(path), name, "cat"), limits)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.png", b"", ingest.ZERO_BYTE),
        ("fake.jpg", b"<html>404 not found</html>", ingest.NOT_AN_IMAGE),
        ("cut.jpg", images.encoded("JPEG", size=(64, 64))[:300], ingest.TRUNCATED),
        ("tiny.png", images.encoded("PNG", size=(3, 40)), ingest.TOO_SMALL),
        ("bomb.png", images.png_header_only(4000, 4000), ingest.TOO_MANY_PIXELS),
    ],
)
def test_the_first_pass_settles_what_the_header_shows(tmp_path, name, data, reason):
    assert identify(tmp_path, name, data).reason == reason


@pytest.mark.parametrize(
    "data, reason",
    [
        (images.encoded("PNG", size=(64, 64))[:100], ingest.TRUNCATED),
        (images.corrupted(images.encoded("PNG", size=(64, 64))), ingest.UNDECODABLE),
    ],
    ids=["cut after the header", "corrupt pixel data"],
)
def test_the_first_pass_hashes_what_only_the_decode_finds_broken(tmp_path, data, reason):
    first = identify(tmp_path, "a.png", data)
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert ingest.read_file(first.source, SMALL_IMAGES_OK, first.sha256).reason == reason


def test_a_file_changed_after_the_first_pass_is_quarantined(tmp_path):
    first = identify(tmp_path, "a.png", images.encoded("PNG", seed=1))
    (tmp_path / "a.png").write_bytes(images.encoded("PNG", seed=2))
    record = ingest.read_file(first.source, SMALL_IMAGES_OK, first.sha256)
    assert (record.reason, record.ignored) == (ingest.CHANGED, False)
    assert first.sha256 in record.detail
    unchanged = identify(tmp_path, "b.png", images.encoded("PNG", seed=3))
    assert isinstance(
        ingest.read_file(unchanged.source, SMALL_IMAGES_OK, unchanged.sha256), ingest.Ingested
    )


def test_a_file_that_never_claimed_to_be_an_image_is_ignored(tmp_path):
    record = read(tmp_path, "notes.txt", b"shot on a sunny day")
    assert (record.reason, record.ignored) == (ingest.NOT_IMAGE_FILE, True)


def test_unreadable_file_is_quarantined(tmp_path):
    missing = ingest.SourceFile(str(tmp_path / "gone.png"), "gone.png", "cat")
    assert ingest.read_file(missing).reason == ingest.UNREADABLE


def copy_at(relative, label, sha="a" * 64):
    return ingest.Identified(ingest.SourceFile(f"/data/{relative}", relative, label), sha)


def test_duplicates_keep_the_first_path():
    kept, records = ingest.deduplicate([copy_at("cat/b.png", "cat"), copy_at("cat/a.png", "cat")])
    assert kept.relative == "cat/a.png"
    assert [(r.path, r.reason, r.detail) for r in records] == [
        ("cat/b.png", ingest.DUPLICATE, "same as cat/a.png")
    ]


def test_same_content_under_two_labels_is_a_conflict_and_kept_out():
    kept, records = ingest.deduplicate([copy_at("cat/a.png", "cat"), copy_at("dog/a.png", "dog")])
    assert kept is None
    assert [(r.path, r.reason) for r in records] == [
        ("cat/a.png", ingest.LABEL_CONFLICT),
        ("dog/a.png", ingest.LABEL_CONFLICT),
    ]
    assert "cat, dog" in records[0].detail


def test_listing_accounts_for_every_file(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / label / "nested").mkdir(parents=True)
        (tmp_path / label / "1.png").write_bytes(images.encoded("PNG"))
        (tmp_path / label / "nested" / "2.jpg").write_bytes(images.encoded("JPEG"))
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "dog" / "Thumbs.db").write_bytes(b"x")
    (tmp_path / "dog" / ".cache").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "3.png").write_bytes(images.encoded("PNG"))
    (tmp_path / "README.txt").write_text("about the data")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes(images.encoded("PNG"))
    (tmp_path / "cat" / "link.png").symlink_to(outside)
    (tmp_path / "dog" / "alias").symlink_to(tmp_path / "cat" / "nested")

    listing = ingest.list_input(tmp_path)

    assert listing.classes == ["cat", "dog"]
    assert sorted(f.relative for f in listing.files) == [
        "cat/1.png",
        "cat/nested/2.jpg",
        "dog/1.png",
        "dog/nested/2.jpg",
    ]
    assert {f.label for f in listing.files if f.relative.startswith("dog/")} == {"dog"}
    assert sorted((r.path, r.reason) for r in listing.ignored) == [
        (".hidden/", ingest.HIDDEN),
        ("README.txt", ingest.OUTSIDE_CLASS),
        ("cat/.DS_Store", ingest.HIDDEN),
        ("dog/.cache/", ingest.HIDDEN),
        ("dog/Thumbs.db", ingest.HIDDEN),
        ("dog/alias/", ingest.LINKED_FOLDER),
    ]
    assert [(r.path, r.reason) for r in listing.quarantined] == [
        ("cat/link.png", ingest.OUTSIDE_ROOT)
    ]
    assert listing.files_seen == 11


def test_any_folder_name_is_a_class_in_unicode_normal_form(tmp_path):
    for name in ("chats noirs", "cafe\u0301", "猫"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.png").write_bytes(images.encoded("PNG"))
    assert ingest.list_input(tmp_path).classes == ["café", "chats noirs", "猫"]


def test_manifest_csv_and_jsonl(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(images.encoded("PNG"))
    (tmp_path / "labels.csv").write_text(
        "path,label,split\nimg/a.png,cat,\nimg/b.png,dog,eval\n,dog,\n../x.png,dog,\n"
        "img/c.png,dog,test\n"
    )
    listing = ingest.list_input(tmp_path, "labels.csv", splits=("train", "eval"))
    assert [(f.relative, f.label, f.split) for f in listing.files] == [
        ("img/a.png", "cat", ""),
        ("img/b.png", "dog", "eval"),
    ]
    assert [(r.path, r.reason) for r in listing.quarantined] == [
        ("labels.csv:4", ingest.BAD_MANIFEST_ROW),
        ("../x.png", ingest.OUTSIDE_ROOT),
        ("labels.csv:6", ingest.BAD_MANIFEST_ROW),
    ]
    (tmp_path / "labels.jsonl").write_text(
        '{"path": "img/a.png", "label": "cat"}\n\n{"path": "img/b.png", "label": "dog"}\nnot json\n'
    )
    listing = ingest.list_input(tmp_path, "labels.jsonl")
    assert [(f.relative, f.label) for f in listing.files] == [
        ("img/a.png", "cat"),
        ("img/b.png", "dog"),
    ]
    assert [(r.path, r.reason) for r in listing.quarantined] == [
        ("labels.jsonl:4", ingest.BAD_MANIFEST_ROW)
    ]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("m.csv", "file,class\na.png,cat\n", "header row lacks path, label"),
        ("m.txt", "a.png,cat\n", "unknown manifest type"),
        ("absent.csv", None, "manifest not found"),
    ],
)
def test_unusable_manifest(tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(ingest.IngestError, match=message):
        ingest.list_input(tmp_path, name)


def test_missing_folder(tmp_path):
    with pytest.raises(ingest.IngestError, match="data folder not found"):
        ingest.list_input(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "cat").mkdir()
    with pytest.raises(ingest.IngestError, match="no files found in class sub-folders"):
        ingest.list_input(tmp_path)


def test_single_class(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.png").write_bytes(images.encoded("PNG"))
    with pytest.raises(ingest.IngestError, match="at least two"):
        ingest.list_input(tmp_path)


def test_data_max_pixels_is_honoured_above_pillows_own_limit(tmp_path):
    """Pillow refuses over 179M pixels by default; ingestion applies data.max_pixels alone."""
    (tmp_path / "big.png").write_bytes(images.png_header_only(20000, 10000))
    source = ingest.SourceFile(str(tmp_path / "big.png"), "big.png", "a")
    assert isinstance(
        ingest.identify(source, ingest.Limits(max_pixels=300_000_000)), ingest.Identified
    )
    record = ingest.identify(source, ingest.Limits(max_pixels=100_000_000))
    assert record == ingest.Record(
        "big.png", ingest.TOO_MANY_PIXELS, "20000x10000 is over data.max_pixels=100000000"
    )
