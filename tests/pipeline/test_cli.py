"""What a new user sees when something is wrong: one line naming the problem, exit code 2."""

from pathlib import Path

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import cli, config_loader
from pipeline import config as config_lib
from pipeline.pipeline import create_pipeline
from tests.components.images import encoded

REPO = Path(__file__).resolve().parents[2]


def config_file(tmp_path, data_root, extra="", schema=REPO / "schema" / "digits.pbtxt"):
    path = tmp_path / "config.yaml"
    path.write_text(
        f"pipeline_name: t\noutput_dir: {tmp_path / 'out'}\nschema_file: '{schema}'\n"
        f"data:\n  root: {data_root}\n{extra}"
    )
    return path


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err.strip()


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.startswith("error: ")
    assert "\n" not in err and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_missing_data_folder(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    code, err = run_cli(capsys, "run", "--config", str(config_file(tmp_path, missing)))
    assert_one_line_error(code, err, str(missing), "data folder not found", "data.root")


def test_empty_data_folder(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code, err = run_cli(capsys, "run", "--config", str(config_file(tmp_path, tmp_path / "data")))
    assert_one_line_error(code, err, "no files found in class sub-folders")


def test_single_class(tmp_path, capsys):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "data" / "cat" / "1.png").write_bytes(encoded("PNG"))
    code, err = run_cli(capsys, "run", "--config", str(config_file(tmp_path, tmp_path / "data")))
    assert_one_line_error(code, err, "at least two classes", "cat")


def test_unknown_config_key(tmp_path, capsys):
    path = config_file(tmp_path, tmp_path, extra="trainer:\n  epocs: 3\n")
    code, err = run_cli(capsys, "run", "--config", str(path))
    assert_one_line_error(code, err, str(path), "unknown key 'trainer.epocs'")


def test_unknown_key_in_an_override(tmp_path, capsys):
    path = config_file(tmp_path, tmp_path)
    code, err = run_cli(capsys, "run", "--config", str(path), "--set", "trainer.lr=0.1")
    assert_one_line_error(code, err, "unknown key 'trainer.lr'")


def test_missing_schema_file(tmp_path, capsys, digits_subset):
    path = config_file(tmp_path, digits_subset, schema=tmp_path / "none.pbtxt")
    code, err = run_cli(capsys, "run", "--config", str(path))
    assert_one_line_error(
        code, err, "none.pbtxt not found", f"image-pipeline init --update-schema --config {path}"
    )


def test_a_config_without_a_schema_names_init(tmp_path, capsys, digits_subset):
    path = config_file(tmp_path, digits_subset, schema="")
    code, err = run_cli(capsys, "run", "--config", str(path))
    assert_one_line_error(
        code, err, "schema_file: not set", "image-pipeline init DATA_DIR --config configs/NAME"
    )
    with pytest.raises(config_lib.ConfigError, match="schema_file: not set; .image-pipeline init"):
        create_pipeline(config_loader.config_from_dict({}))  # so compile refuses it too


def test_init_refuses_a_folder_of_one_class_or_no_images(tmp_path, capsys):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "data" / "cat" / "1.png").write_bytes(encoded("PNG"))
    config = str(tmp_path / "configs" / "pets.yaml")
    code, err = run_cli(capsys, "init", str(tmp_path / "data"), "--config", config)
    assert_one_line_error(code, err, "at least two classes", "cat")
    (tmp_path / "data" / "cat" / "1.png").unlink()
    (tmp_path / "data" / "dog").mkdir()
    code, err = run_cli(capsys, "init", str(tmp_path / "data"), "--config", config)
    assert_one_line_error(code, err, "no files found in class sub-folders")
    code, err = run_cli(capsys, "init", str(tmp_path / "nowhere"), "--config", config)
    assert_one_line_error(code, err, "data folder not found")
    assert not (tmp_path / "configs").exists()


def test_init_writes_new_files_only(tmp_path, capsys, digits_subset):
    existing = config_file(tmp_path, digits_subset)
    code, err = run_cli(capsys, "init", str(digits_subset), "--config", str(existing))
    assert_one_line_error(code, err, f"{existing}: exists", "--update-schema")
    schema = tmp_path / "other.schema.pbtxt"
    schema.write_text("")
    code, err = run_cli(
        capsys, "init", str(digits_subset), "--config", str(tmp_path / "other.yaml")
    )
    assert_one_line_error(code, err, f"{schema}: exists")
    code, err = run_cli(capsys, "init", "--config", str(tmp_path / "new.yaml"))
    assert_one_line_error(code, err, "give the folder of images")


def test_init_update_schema_needs_the_config(tmp_path, capsys, digits_subset):
    missing = tmp_path / "missing.yaml"
    code, err = run_cli(capsys, "init", "--update-schema", "--config", str(missing))
    assert_one_line_error(code, err, f"{missing}: config not found")
    existing = config_file(tmp_path, digits_subset)
    code, err = run_cli(capsys, "init", str(tmp_path), "--update-schema", "--config", str(existing))
    assert_one_line_error(code, err, "--update-schema reads the config's data.root")


def test_demo_data_writes_every_digit(tmp_path, capsys):
    assert cli.main(["demo-data", "--out", str(tmp_path / "digits")]) == 0
    assert "1797 digit images" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == [str(d) for d in range(10)]
    assert len(list((tmp_path / "digits").rglob("*.png"))) == 1797


def test_unknown_command_is_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(["train"])
    assert error.value.code == 2


def test_report_before_any_run(tmp_path, capsys):
    path = config_file(tmp_path, tmp_path / "data")
    code, err = run_cli(capsys, "report", "--config", str(path))
    assert_one_line_error(code, err, "metadata.sqlite", "no ML Metadata store", "run the pipeline")
    (tmp_path / "out").mkdir()
    store = metadata_store_pb2.ConnectionConfig()
    store.sqlite.filename_uri = str(tmp_path / "out" / "metadata.sqlite")
    store.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    metadata_store.MetadataStore(store)  # an empty store: another pipeline may share it
    code, err = run_cli(capsys, "report", "--config", str(path))
    assert_one_line_error(code, err, "no run of pipeline 't'", "run the pipeline first")
