"""Reading files on real image bytes: formats, re-encoding, quarantine reasons, dedup."""

import hashlib
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.image_example_gen import listing, reading, rows
from tests.components import images
from trainer import decode


def feature(example, key):
    value = tf.train.Example.FromString(example).features.feature[key]
    return value.bytes_list.value[0] if value.bytes_list.value else value.int64_list.value[0]


SMALL_IMAGES_OK = reading.Limits(min_side=4)


def read(tmp_path, name, data, label="cat", limits=SMALL_IMAGES_OK):
    path = tmp_path / name
    path.write_bytes(data)
    return reading.read_file(listing.SourceFile(str(path), name, label), limits)


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
    assert isinstance(result, reading.Ingested)
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
    assert isinstance(result, reading.Ingested)
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
        ("empty.png", b"", rows.ZERO_BYTE),
        ("fake.jpg", b"<html>404 not found</html>", rows.NOT_AN_IMAGE),
        ("cut.jpg", images.encoded("JPEG", size=(64, 64))[:300], rows.TRUNCATED),
        ("cut.png", images.encoded("PNG", size=(64, 64))[:100], rows.TRUNCATED),
        ("rot.png", images.corrupted(images.encoded("PNG", size=(64, 64))), rows.UNDECODABLE),
        ("tiny.png", images.encoded("PNG", size=(3, 40)), rows.TOO_SMALL),
        ("bomb.png", images.png_header_only(4000, 4000), rows.TOO_MANY_PIXELS),
        ("huge.png", images.png_header_only(30000, 30000), rows.TOO_MANY_PIXELS),
    ],
)
def test_broken_files_are_quarantined_with_a_reason(tmp_path, name, data, reason):
    row = read(tmp_path, name, data, limits=reading.Limits(min_side=4, max_pixels=1_000_000))
    assert isinstance(row, rows.ReportRow)
    assert (row.path, row.reason, row.ignored) == (name, reason, False)


def identify(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    limits = reading.Limits(min_side=4, max_pixels=1_000_000)
    return reading.identify(listing.SourceFile(str(path), name, "cat"), limits)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.png", b"", rows.ZERO_BYTE),
        ("fake.jpg", b"<html>404 not found</html>", rows.NOT_AN_IMAGE),
        ("cut.jpg", images.encoded("JPEG", size=(64, 64))[:300], rows.TRUNCATED),
        ("tiny.png", images.encoded("PNG", size=(3, 40)), rows.TOO_SMALL),
        ("bomb.png", images.png_header_only(4000, 4000), rows.TOO_MANY_PIXELS),
    ],
)
def test_the_first_pass_settles_what_the_header_shows(tmp_path, name, data, reason):
    assert identify(tmp_path, name, data).reason == reason


@pytest.mark.parametrize(
    "data, reason",
    [
        (images.encoded("PNG", size=(64, 64))[:100], rows.TRUNCATED),
        (images.corrupted(images.encoded("PNG", size=(64, 64))), rows.UNDECODABLE),
    ],
    ids=["cut after the header", "corrupt pixel data"],
)
def test_the_first_pass_hashes_what_only_the_decode_finds_broken(tmp_path, data, reason):
    first = identify(tmp_path, "a.png", data)
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert reading.read_file(first.source, SMALL_IMAGES_OK, first.sha256).reason == reason


def test_a_file_changed_after_the_first_pass_is_quarantined(tmp_path):
    first = identify(tmp_path, "a.png", images.encoded("PNG", seed=1))
    (tmp_path / "a.png").write_bytes(images.encoded("PNG", seed=2))
    row = reading.read_file(first.source, SMALL_IMAGES_OK, first.sha256)
    assert (row.reason, row.ignored) == (rows.CHANGED, False)
    assert first.sha256 in row.detail
    unchanged = identify(tmp_path, "b.png", images.encoded("PNG", seed=3))
    assert isinstance(
        reading.read_file(unchanged.source, SMALL_IMAGES_OK, unchanged.sha256), reading.Ingested
    )


def test_a_file_that_never_claimed_to_be_an_image_is_ignored(tmp_path):
    row = read(tmp_path, "notes.txt", b"shot on a sunny day")
    assert (row.reason, row.ignored) == (rows.NOT_IMAGE_FILE, True)


def test_unreadable_file_is_quarantined(tmp_path):
    missing = listing.SourceFile(str(tmp_path / "gone.png"), "gone.png", "cat")
    assert reading.read_file(missing).reason == rows.UNREADABLE


def copy_at(relative, label, sha="a" * 64):
    return reading.Identified(listing.SourceFile(f"/data/{relative}", relative, label), sha)


def test_duplicates_keep_the_first_path():
    kept, dropped = reading.deduplicate([copy_at("cat/b.png", "cat"), copy_at("cat/a.png", "cat")])
    assert kept.relative == "cat/a.png"
    assert [(r.path, r.reason, r.detail) for r in dropped] == [
        ("cat/b.png", rows.DUPLICATE, "same as cat/a.png")
    ]


def test_same_content_under_two_labels_is_a_conflict_and_kept_out():
    kept, conflicts = reading.deduplicate(
        [copy_at("cat/a.png", "cat"), copy_at("dog/a.png", "dog")]
    )
    assert kept is None
    assert [(r.path, r.reason) for r in conflicts] == [
        ("cat/a.png", rows.LABEL_CONFLICT),
        ("dog/a.png", rows.LABEL_CONFLICT),
    ]
    assert "cat, dog" in conflicts[0].detail


def test_data_max_pixels_is_honoured_above_pillows_own_limit(tmp_path):
    """Pillow refuses over 179M pixels by default; ingestion applies data.max_pixels alone."""
    (tmp_path / "big.png").write_bytes(images.png_header_only(20000, 10000))
    source = listing.SourceFile(str(tmp_path / "big.png"), "big.png", "a")
    assert isinstance(
        reading.identify(source, reading.Limits(max_pixels=300_000_000)), reading.Identified
    )
    row = reading.identify(source, reading.Limits(max_pixels=100_000_000))
    assert row == rows.ReportRow(
        "big.png", rows.TOO_MANY_PIXELS, "20000x10000 is over data.max_pixels=100000000"
    )
