"""ImageExampleGen's input fingerprint sees every file in the tree, not only the folders
the pattern matches: a change deep inside re-runs ingestion instead of reusing the cache."""

import os
import shutil

from tfx.components.example_gen import input_processor
from tfx.proto import example_gen_pb2

from components.image_example_gen import driver
from components.image_example_gen.component import ImageExampleGen


def tree(root):
    for path, data in {
        "cat/a.png": b"aaaa",
        "cat/nested/b.png": b"bbbb",
        "dog/c.png": b"cccc",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def fingerprint(root, pattern="*", processor=driver.TreeFingerprintInputProcessor):
    splits = [example_gen_pb2.Input.Split(name="images", pattern=pattern)]
    resolver = processor(str(root), splits)
    span, version = resolver.resolve_span_and_version()
    return resolver.get_input_fingerprint(span, version)


def touch_later(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_an_image_edited_in_place_deep_in_a_class_changes_the_fingerprint(tmp_path):
    root = tree(tmp_path / "images")
    before = fingerprint(root)
    plain_before = fingerprint(root, processor=input_processor.FileBasedInputProcessor)
    assert fingerprint(root) == before  # stable when nothing changed

    (root / "cat" / "nested" / "b.png").write_bytes(b"BBBB")  # same size, new content
    touch_later(root / "cat" / "nested" / "b.png")

    assert fingerprint(root) != before
    # TFX's own fingerprint stats the class folders only, and misses it:
    assert fingerprint(root, processor=input_processor.FileBasedInputProcessor) == plain_before


def test_an_image_moved_to_another_class_changes_the_fingerprint(tmp_path):
    root = tree(tmp_path / "images")
    before = fingerprint(root)
    os.makedirs(root / "dog" / "nested")
    shutil.move(root / "cat" / "nested" / "b.png", root / "dog" / "nested" / "b.png")
    assert fingerprint(root) != before


def test_with_spans_only_the_ingested_span_counts(tmp_path):
    tree(tmp_path / "span-1")
    tree(tmp_path / "span-2")
    before = fingerprint(tmp_path, "span-{SPAN}/*")
    touch_later(tmp_path / "span-1" / "cat" / "nested" / "b.png")
    assert fingerprint(tmp_path, "span-{SPAN}/*") == before
    touch_later(tmp_path / "span-2" / "cat" / "nested" / "b.png")
    assert fingerprint(tmp_path, "span-{SPAN}/*") != before


def test_the_component_runs_with_this_driver():
    assert ImageExampleGen.DRIVER_CLASS is driver.Driver
    splits = [example_gen_pb2.Input.Split(name="images", pattern="*")]
    processor = driver.Driver(None).get_input_processor(splits, input_base_uri="/data")
    assert isinstance(processor, driver.TreeFingerprintInputProcessor)
