"""components.publish: whole versions only, numbered upwards, the newest K kept, an identical
model not pushed again, and staging folders of killed pushes removed."""

import os
import socket
import subprocess
import time

import pytest

from components import publish


def model_tree(root, graph=b"graph"):
    (root / "variables").mkdir(parents=True)
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(graph)
    return root


def test_a_tree_is_published_whole_and_old_versions_are_pruned(tmp_path):
    base = tmp_path / "serving" / "digits"
    published = [
        publish.publish(str(model_tree(tmp_path / f"model{i}", b"graph%d" % i)), str(base), 2)
        for i in range(3)
    ]

    assert [p.new for p in published] == [True, True, True]
    assert sorted(p.name for p in base.iterdir()) == [p.version for p in published[1:]]
    latest = published[2]
    assert latest.destination == str(base / latest.version)
    assert (base / latest.version / "variables" / "variables.index").read_bytes() == b"index"
    assert (base / latest.version / "assets").is_dir()
    assert (base / latest.version / "saved_model.pb").read_bytes() == b"graph2"


def test_keep_versions_zero_keeps_every_version(tmp_path):
    base = tmp_path / "serving"
    for i in range(3):
        publish.publish(str(model_tree(tmp_path / f"model{i}", b"%d" % i)), str(base), 0)
    assert len(list(base.iterdir())) == 3


def test_the_model_already_current_is_not_pushed_again_nor_prunes_older_versions(tmp_path):
    base = tmp_path / "serving"
    older = publish.publish(str(model_tree(tmp_path / "a", b"a")), str(base), 2)
    current = publish.publish(str(model_tree(tmp_path / "b", b"b")), str(base), 2)
    again = [publish.publish(str(tmp_path / "b"), str(base), 2) for _ in range(3)]

    assert {(p.version, p.new) for p in again} == {(current.version, False)}
    assert sorted(p.name for p in base.iterdir()) == sorted([older.version, current.version])
    back = publish.publish(str(tmp_path / "a"), str(base), 2)  # not the newest: a new version
    assert back.new and int(back.version) > int(current.version)


def test_a_pushed_version_is_never_overwritten(tmp_path, monkeypatch):
    base = tmp_path / "serving"
    first = publish.publish(str(model_tree(tmp_path / "a", b"a")), str(base), 0)
    (base / first.version / "saved_model.pb").write_bytes(b"served")
    monkeypatch.setattr(publish, "next_version", lambda _: first.version)  # a racing push
    with pytest.raises(FileExistsError, match=f"version {first.version} was already pushed"):
        publish.publish(str(model_tree(tmp_path / "b", b"b")), str(base), 0)
    assert (base / first.version / "saved_model.pb").read_bytes() == b"served"


def test_staging_folders_of_killed_pushes_are_removed_and_live_ones_kept(tmp_path):
    base = tmp_path / "serving"
    host = socket.gethostname()
    dead_pid = subprocess.Popen(["true"])  # a process that has exited: its pid is free
    dead_pid.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        leftovers = {
            "old_format": base / ".9.partial",
            "dead": base / f".10.{host}.{dead_pid.pid}.partial",
            "other_host_old": base / ".11.elsewhere.42.partial",
        }
        kept = {
            "live": base / f".12.{host}.{live.pid}.partial",
            "other_host_recent": base / ".13.elsewhere.43.partial",
        }
        for folder in [*leftovers.values(), *kept.values()]:
            folder.mkdir(parents=True)
            (folder / "model_int8.tflite").write_bytes(b"cut at 2.5 MB")
        day_ago = time.time() - publish.STALE_ELSEWHERE_S - 60
        os.utime(leftovers["other_host_old"], (day_ago, day_ago))

        published = publish.publish(str(model_tree(tmp_path / "m")), str(base), 0)
    finally:
        live.kill()
    names = sorted(p.name for p in base.iterdir())
    assert names == sorted([published.version, *(p.name for p in kept.values())])
    assert not (base / published.version / "model_int8.tflite").exists()


def test_next_version_is_the_time_or_above_the_newest(tmp_path):
    base = tmp_path / "serving"
    assert int(publish.next_version(str(base))) >= int(time.time()) - 1
    future = int(time.time()) + 1000
    (base / str(future)).mkdir(parents=True)
    (base / "notes").mkdir()
    assert publish.next_version(str(base)) == str(future + 1)
