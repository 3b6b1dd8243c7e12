"""components.publish: whole versions only, numbered upwards, the newest K kept."""

import time

import pytest

from components import publish


def model_tree(root):
    (root / "variables").mkdir(parents=True)
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(b"graph")
    return root


def test_a_tree_is_published_whole_and_old_versions_are_pruned(tmp_path):
    source = model_tree(tmp_path / "model")
    base = tmp_path / "serving" / "digits"
    for version in ("100", "200", "300"):
        destination = publish.publish(str(source), str(base), version, keep_versions=2)

    assert sorted(p.name for p in base.iterdir()) == ["200", "300"]  # no .partial left
    assert destination == str(base / "300")
    assert (base / "300" / "variables" / "variables.index").read_bytes() == b"index"
    assert (base / "300" / "assets").is_dir()
    assert (base / "300" / "saved_model.pb").read_bytes() == b"graph"


def test_keep_versions_zero_keeps_every_version(tmp_path):
    source = model_tree(tmp_path / "model")
    base = tmp_path / "serving"
    for version in ("1", "2", "3"):
        publish.publish(str(source), str(base), version, keep_versions=0)
    assert sorted(p.name for p in base.iterdir()) == ["1", "2", "3"]


def test_a_pushed_version_is_never_overwritten(tmp_path):
    source = model_tree(tmp_path / "model")
    base = tmp_path / "serving"
    publish.publish(str(source), str(base), "7", keep_versions=0)
    (base / "7" / "saved_model.pb").write_bytes(b"served")
    with pytest.raises(FileExistsError, match="version 7 was already pushed"):
        publish.publish(str(source), str(base), "7", keep_versions=0)
    assert (base / "7" / "saved_model.pb").read_bytes() == b"served"


def test_a_half_written_staging_folder_from_a_dead_push_is_replaced(tmp_path):
    source = model_tree(tmp_path / "model")
    base = tmp_path / "serving"
    (base / ".9.partial").mkdir(parents=True)
    (base / ".9.partial" / "junk").write_bytes(b"half")
    publish.publish(str(source), str(base), "9", keep_versions=0)
    assert not (base / "9" / "junk").exists()
    assert sorted(p.name for p in base.iterdir()) == ["9"]


def test_next_version_is_the_time_or_above_the_newest(tmp_path):
    base = tmp_path / "serving"
    assert int(publish.next_version(str(base))) >= int(time.time()) - 1
    future = int(time.time()) + 1000
    (base / str(future)).mkdir(parents=True)
    (base / "notes").mkdir()
    assert publish.next_version(str(base)) == str(future + 1)
