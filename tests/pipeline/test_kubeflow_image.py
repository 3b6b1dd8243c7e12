"""The Dockerfile, checked without Docker: what it copies exists and is not docker-ignored,
the Keras switch is set, Beam's worker boot matches the pinned Beam and Python, and the
schema lands where the Kubeflow config template looks for it. tests/kubeflow builds it.
"""

import fnmatch
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(name):
    return [
        line.split(None, 1)[1]
        for line in DOCKERFILE.splitlines()
        if line.split(None, 1)[:1] == [name]
    ]


def copied_sources():
    sources = []
    for arguments in instructions("COPY"):
        if arguments.startswith("--from="):
            continue
        *paths, _ = arguments.split()
        sources += paths
    return sources


def test_copied_files_exist_and_are_not_docker_ignored():
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in copied_sources():
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert not any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in ignored)
    for package in ("pipeline/", "components/", "trainer/", "schema/", "setup.py"):
        assert package in copied_sources()


def test_keras_switch_is_set_in_the_image():
    assert re.search(r"^ENV TF_USE_LEGACY_KERAS=1\b", DOCKERFILE, re.MULTILINE)


def test_beam_worker_boot_matches_the_pinned_beam_and_python():
    pins = dict(
        line.split("==")
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    arguments = dict(argument.split("=", 1) for argument in instructions("ARG"))
    assert arguments["BEAM_SDK_IMAGE"] == f"apache/beam_python3.10_sdk:{pins['apache-beam']}"
    assert arguments["BASE_IMAGE"] == "python:3.10-slim"
    assert "FROM ${BEAM_SDK_IMAGE} AS beam_sdk" in DOCKERFILE
    assert instructions("ENTRYPOINT") == ['["/opt/apache/beam/boot"]']
    assert instructions("FROM")[-1] == "pipeline AS beam-worker"  # the default target
    image_script = (REPO / "scripts" / "image.sh").read_text()
    assert f"beam_sdk_image={arguments['BEAM_SDK_IMAGE']}" in image_script


def test_kubeflow_template_reads_the_schema_the_image_ships():
    template = yaml.safe_load((REPO / "configs" / "kubeflow.yaml").read_text())
    workdir = instructions("WORKDIR")[-1]
    assert template["schema_file"] == f"{workdir}/schema/digits.pbtxt"
    assert (REPO / "schema" / "digits.pbtxt").is_file()
