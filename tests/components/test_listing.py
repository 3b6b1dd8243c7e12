"""Listing the input: class folders, litter and links, manifests, unusable inputs."""

import pytest

from components.image_example_gen import rows
from components.image_example_gen.listing import list_input
from tests.components import images


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

    listing = list_input(tmp_path)

    assert listing.classes == ["cat", "dog"]
    assert sorted(f.relative for f in listing.files) == [
        "cat/1.png",
        "cat/nested/2.jpg",
        "dog/1.png",
        "dog/nested/2.jpg",
    ]
    assert {f.label for f in listing.files if f.relative.startswith("dog/")} == {"dog"}
    assert sorted((r.path, r.reason) for r in listing.ignored) == [
        (".hidden/", rows.HIDDEN),
        ("README.txt", rows.OUTSIDE_CLASS),
        ("cat/.DS_Store", rows.HIDDEN),
        ("dog/.cache/", rows.HIDDEN),
        ("dog/Thumbs.db", rows.HIDDEN),
        ("dog/alias/", rows.LINKED_FOLDER),
    ]
    assert [(r.path, r.reason) for r in listing.quarantined] == [
        ("cat/link.png", rows.OUTSIDE_ROOT)
    ]
    assert listing.files_seen == 11


def test_any_folder_name_is_a_class_in_unicode_normal_form(tmp_path):
    for name in ("chats noirs", "cafe\u0301", "猫"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.png").write_bytes(images.encoded("PNG"))
    assert list_input(tmp_path).classes == ["café", "chats noirs", "猫"]


def test_manifest_csv_and_jsonl(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(images.encoded("PNG"))
    (tmp_path / "labels.csv").write_text(
        "path,label,split\nimg/a.png,cat,\nimg/b.png,dog,eval\n,dog,\n../x.png,dog,\n"
        "img/c.png,dog,test\n"
    )
    listing = list_input(tmp_path, "labels.csv", splits=("train", "eval"))
    assert [(f.relative, f.label, f.split) for f in listing.files] == [
        ("img/a.png", "cat", ""),
        ("img/b.png", "dog", "eval"),
    ]
    assert [(r.path, r.reason) for r in listing.quarantined] == [
        ("labels.csv:4", rows.BAD_MANIFEST_ROW),
        ("../x.png", rows.OUTSIDE_ROOT),
        ("labels.csv:6", rows.BAD_MANIFEST_ROW),
    ]
    (tmp_path / "labels.jsonl").write_text(
        '{"path": "img/a.png", "label": "cat"}\n\n{"path": "img/b.png", "label": "dog"}\nnot json\n'
    )
    listing = list_input(tmp_path, "labels.jsonl")
    assert [(f.relative, f.label) for f in listing.files] == [
        ("img/a.png", "cat"),
        ("img/b.png", "dog"),
    ]
    assert [(r.path, r.reason) for r in listing.quarantined] == [
        ("labels.jsonl:4", rows.BAD_MANIFEST_ROW)
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
    with pytest.raises(rows.IngestError, match=message):
        list_input(tmp_path, name)


def test_missing_folder(tmp_path):
    with pytest.raises(rows.IngestError, match="data folder not found"):
        list_input(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "cat").mkdir()
    with pytest.raises(rows.IngestError, match="no files found in class sub-folders"):
        list_input(tmp_path)


def test_single_class(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.png").write_bytes(images.encoded("PNG"))
    with pytest.raises(rows.IngestError, match="at least two"):
        list_input(tmp_path)
