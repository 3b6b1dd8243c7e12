"""A messy first folder, built on the fly: every kind of good and bad file, through Beam.

Asserts the exact counts, the reason for every file that did not become an example, and
that every example decodes by the decode contract (trainer/decode.py, what Transform and
serving apply) to its recorded height and width, 3 channels.
"""

import pytest
import tensorflow as tf

from components.image_example_gen import executor, rows
from components.image_example_gen.standalone import run_executor
from tests.components import images
from tests.components.ingestion import read_report, read_split
from trainer import decode

CATS, NEKO, DOGS = "chats é", "猫", "dog"

VALID = {
    # path: (height, width) of the upright image
    f"{CATS}/baseline.jpg": (30, 40),
    f"{CATS}/progressive.JPG": (30, 40),
    f"{CATS}/cmyk.jpeg": (30, 40),
    f"{CATS}/phone.jpg": (40, 30),  # EXIF orientation 6: stored upright
    f"{NEKO}/gray.png": (16, 20),
    f"{NEKO}/rgba.PNG": (16, 20),
    f"{NEKO}/palette.png": (16, 20),
    f"{NEKO}/deep.png": (16, 20),
    f"{NEKO}/nested/deeper/anim.gif": (16, 20),
    f"{DOGS}/pic.bmp": (16, 20),
    f"{DOGS}/palette.bmp": (16, 20),
    f"{DOGS}/photo.webp": (16, 20),
    f"{DOGS}/scan.tiff": (16, 20),
    f"{DOGS}/no_extension": (16, 20),
    f"{DOGS}/misnamed.png": (30, 40),  # a JPEG by content
}

QUARANTINED = [
    (f"{CATS}/same.png", rows.LABEL_CONFLICT),
    (f"{DOGS}/bomb.png", rows.TOO_MANY_PIXELS),
    (f"{DOGS}/corrupt.png", rows.UNDECODABLE),
    (f"{DOGS}/dangling.jpg", rows.UNREADABLE),
    (f"{DOGS}/empty.jpg", rows.ZERO_BYTE),
    (f"{DOGS}/fake.jpg", rows.NOT_AN_IMAGE),
    (f"{DOGS}/link_out.jpg", rows.OUTSIDE_ROOT),
    (f"{DOGS}/same.png", rows.LABEL_CONFLICT),
    (f"{DOGS}/tiny.png", rows.TOO_SMALL),
    (f"{DOGS}/truncated.jpg", rows.TRUNCATED),
]

IGNORED = [
    (".DS_Store", rows.HIDDEN),
    ("README.md", rows.OUTSIDE_CLASS),
    (f"{CATS}/.thumbnails/", rows.HIDDEN),
    (f"{DOGS}/.hidden.jpg", rows.HIDDEN),
    (f"{DOGS}/Thumbs.db", rows.HIDDEN),
    (f"{DOGS}/alias/", rows.LINKED_FOLDER),
    (f"{DOGS}/notes.txt", rows.NOT_IMAGE_FILE),
    (f"{NEKO}/desktop.ini", rows.HIDDEN),
]

DUPLICATES = [
    (f"{DOGS}/pic_copy.bmp", rows.DUPLICATE),
    (f"{DOGS}/pic_link.bmp", rows.DUPLICATE),
]


def build_corpus(root, outside):
    small, photo = (20, 16), (40, 30)
    files = {
        f"{CATS}/baseline.jpg": images.encoded("JPEG", size=photo),
        f"{CATS}/progressive.JPG": images.encoded("JPEG", size=photo, progressive=True),
        f"{CATS}/cmyk.jpeg": images.encoded("JPEG", size=photo, mode="CMYK"),
        f"{CATS}/phone.jpg": images.rotated_jpeg(size=photo, orientation=6),
        f"{CATS}/.thumbnails/baseline.jpg": images.encoded("JPEG", size=photo),
        f"{NEKO}/gray.png": images.encoded("PNG", size=small, mode="L"),
        f"{NEKO}/rgba.PNG": images.encoded("PNG", size=small, mode="RGBA"),
        f"{NEKO}/palette.png": images.encoded("PNG", size=small, mode="P"),
        f"{NEKO}/deep.png": images.png_16_bit(size=small),
        f"{NEKO}/nested/deeper/anim.gif": images.animated_gif(size=small),
        f"{NEKO}/desktop.ini": b"[.ShellClassInfo]",
        f"{DOGS}/pic.bmp": images.encoded("BMP", size=small, seed=3),
        f"{DOGS}/pic_copy.bmp": images.encoded("BMP", size=small, seed=3),
        f"{DOGS}/palette.bmp": images.encoded("BMP", size=small, mode="P"),
        f"{DOGS}/photo.webp": images.encoded("WEBP", size=small),
        f"{DOGS}/scan.tiff": images.encoded("TIFF", size=small),
        f"{DOGS}/no_extension": images.encoded("PNG", size=small, seed=4),
        f"{DOGS}/misnamed.png": images.encoded("JPEG", size=photo, seed=5),
        f"{CATS}/same.png": images.encoded("PNG", size=small, seed=6),
        f"{DOGS}/same.png": images.encoded("PNG", size=small, seed=6),
        f"{DOGS}/bomb.png": images.png_header_only(20000, 20000),
        f"{DOGS}/corrupt.png": images.corrupted(images.encoded("PNG", size=(64, 64))),
        f"{DOGS}/empty.jpg": b"",
        f"{DOGS}/fake.jpg": b"<html>403 Forbidden</html>",
        f"{DOGS}/tiny.png": images.encoded("PNG", size=(4, 40)),
        f"{DOGS}/truncated.jpg": images.encoded("JPEG", size=(64, 64))[:900],
        f"{DOGS}/.hidden.jpg": images.encoded("JPEG", size=photo),
        f"{DOGS}/Thumbs.db": b"\0\1\2",
        f"{DOGS}/notes.txt": b"taken on holiday",
        ".DS_Store": b"\0\0\0\1Bud1",
        "README.md": b"# my photos",
    }
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    outside.write_bytes(images.encoded("JPEG", size=photo, seed=7))
    (root / DOGS / "link_out.jpg").symlink_to(outside)
    (root / DOGS / "pic_link.bmp").symlink_to(root / DOGS / "pic.bmp")
    (root / DOGS / "dangling.jpg").symlink_to(root / DOGS / "moved-away.jpg")
    (root / DOGS / "alias").symlink_to(root / NEKO / "nested")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    base = tmp_path_factory.mktemp("messy")
    build_corpus(base / "photos", base / "elsewhere.jpg")
    return run_executor(base / "photos", base / "examples", min_side=8, max_pixels=1_000_000)


def test_counts_reconcile_exactly(ingested):
    counts = executor.read_counts(ingested.uri)
    assert counts["files_seen"] == len(VALID) + len(QUARANTINED) + len(IGNORED) + len(DUPLICATES)
    assert (
        counts["examples"],
        counts["quarantined"],
        counts["ignored"],
        counts["duplicates"],
    ) == (len(VALID), len(QUARANTINED), len(IGNORED), len(DUPLICATES))
    assert counts["classes"] == [CATS, DOGS, NEKO]


def test_every_file_that_is_not_an_example_has_its_reason(ingested):
    assert read_report(ingested, executor.QUARANTINE_FILE) == QUARANTINED
    assert read_report(ingested, executor.IGNORED_FILE) == IGNORED
    assert read_report(ingested, executor.DUPLICATES_FILE) == DUPLICATES


def test_every_valid_image_decodes_to_its_size_with_three_channels(ingested):
    examples = read_split(ingested, "train") + read_split(ingested, "eval")
    found = {e["source"].decode(): e for e in examples}
    assert set(found) == set(VALID)
    for source, (height, width) in VALID.items():
        example = found[source]
        assert (example["height"], example["width"]) == (height, width), source
        assert example["label"].decode() == source.split("/")[0]
        image = decode.decode(tf.constant(example["image"]))
        assert tuple(image.shape) == (height, width, 3), source


def test_formats_are_named_by_content(ingested):
    examples = read_split(ingested, "train") + read_split(ingested, "eval")
    formats = {e["source"].decode(): e["format"].decode() for e in examples}
    assert formats[f"{DOGS}/no_extension"] == "PNG"
    assert formats[f"{DOGS}/misnamed.png"] == "JPEG"
    assert formats[f"{DOGS}/photo.webp"] == "WEBP"
