"""Faults, as an operator meets them, on the CLI the way a user types it: a run killed (SIGKILL)
during each of ImageExampleGen, Transform, the Trainer, the Evaluator, the TFLitePusher and
the Pusher, and interrupted by Ctrl-C and by a scheduler's SIGTERM, resumes with the same
command to a blessed, pushed model; then the same command again changes nothing. Two runs at
once, an output folder that cannot be written, a full disk and a damaged ML Metadata database
each end in one line that names the path.

Each kill waits for its component to start (the console's "Component X is running." line, or
the Trainer's epoch line), never for a fixed time. After every restart, ML Metadata must show
the components that had finished as cached, and the execution that was cut short canceled
with its folders gone; the serving folders must hold whole versions only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as store_pb2

from pipeline import config_loader, metadata, nodes, summary
from pipeline.local_runner import MIN_FREE_MB

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 4


def overrides(output_dir, data_root):
    return [
        "pipeline_name=faults",
        f"output_dir={output_dir}",
        f"data.root={data_root}",
        f"schema_file={REPO / 'schema' / 'digits.pbtxt'}",
        f"trainer.epochs={EPOCHS}",
        "trainer.batch_size=16",
        "evaluation.min_accuracy=0",  # blessed whatever 4 epochs reach: the pushers must run
        "tflite.conversions=[float32]",
        "serving.model_name=digits_faults",
    ]


def command(output_dir, data_root):
    sets = [arg for value in overrides(output_dir, data_root) for arg in ("--set", value)]
    return ["run", "--config", str(REPO / "configs" / "demo.yaml"), *sets]


def start(args, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_USE_LEGACY_KERAS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a shell job: killed whole
    )


class Console:
    """A run's console, read as it comes (a thread drains the pipe), and its full log."""

    def __init__(self, args, env=None):
        self.process = start(args, env)
        self.lines = []
        self.log = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            if "full log: " in line:
                self.log = Path(line.split("full log: ")[1].strip())
            self.lines.append(line)

    def text(self):
        return "".join(self.lines)

    def wait_for(self, *markers, timeout=1200):
        """Watches the full log until `markers` have appeared in this order.

        The log is read as it grows, every 10 ms: the Pusher's whole execution takes about
        100 ms, and a kill must land inside it."""
        deadline = time.monotonic() + timeout
        text, pending = "", list(markers)
        with contextlib.ExitStack() as stack:
            log = None
            while pending:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.wait()
                    self._reader.join(10)
                    pytest.fail(f"the run ended before {pending[0]!r}:\n{self.text()[-4000:]}")
                if log is None and self.log and self.log.exists():
                    log = stack.enter_context(open(self.log, errors="replace"))
                if log is not None:
                    text += log.read()
                    while pending and pending[0] in text:
                        text = text[text.index(pending[0]) + len(pending[0]) :]
                        pending.pop(0)
                time.sleep(0.01)

    def stop(self, signum):
        """Sends `signum` to the run's process group; returns (exit code, seconds taken)."""
        started = time.monotonic()
        os.killpg(self.process.pid, signum)
        code = self.process.wait(timeout=120)
        self._reader.join(30)
        return code, time.monotonic() - started


def running(node):
    """The log lines that say `node`'s execution is registered and running."""
    return (f"Component {node} is running.", "Going to run a new execution")


def run_briefly(args, env=None):
    """Runs a command expected to stop at once: (exit code, its last line on stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stderr.strip().splitlines()
    return result.returncode, lines[-1] if lines else ""


def run_to_end(args):
    process = start(args)
    text = process.stdout.read()
    return process.wait(timeout=1800), text


def newest_run(config):
    store = metadata.open_store(config.metadata_path)
    run_id = metadata.run_ids(store, config.pipeline_name)[-1]
    return run_id, metadata.node_runs(store, config.pipeline_name, run_id)


def finished(node_runs):
    return {node for node, run in node_runs.items() if run.state in ("complete", "cached")}


def versions_are_whole(config):
    """Every numbered version is a whole model; returns the version names."""
    names = []
    whole = {config.serving_dir: "saved_model.pb", config.tflite_dir: "labels.txt"}
    for base, required in whole.items():
        if not os.path.isdir(base):
            continue
        for name in os.listdir(base):
            if name.isdigit():
                assert os.path.isfile(os.path.join(base, name, required)), (base, name)
                names.append(name)
    return names


def output_folders_of_unfinished_executions(config):
    """Execution-numbered output folders under the pipeline root whose execution did not
    complete (nothing a failed or killed execution wrote may stay)."""
    store = metadata.open_store(config.metadata_path)
    complete = {
        execution.id
        for execution in store.get_executions()
        if execution.last_known_state in (execution.COMPLETE, execution.CACHED)
    }
    left = []
    for node in os.listdir(config.pipeline_root):
        node_dir = Path(config.pipeline_root, node)
        for folder in node_dir.glob("*/*"):
            if folder.parent.name.startswith(".") or not folder.name.isdigit():
                continue
            if int(folder.name) not in complete:
                left.append(str(folder))
    return left


@pytest.fixture(scope="module")
def chain(tmp_path_factory, digits_subset):
    """The kill chain, run by run: what each run finished, and the final run's console."""
    output_dir = tmp_path_factory.mktemp("faults")
    config = config_loader.load_config(
        REPO / "configs" / "demo.yaml", overrides(output_dir, digits_subset)
    )
    args = command(output_dir, digits_subset)
    stops = [
        ("ImageExampleGen", running(nodes.EXAMPLE_GEN), signal.SIGKILL),
        ("Transform", running(nodes.TRANSFORM), signal.SIGKILL),
        ("Trainer, Ctrl-C", (f"Trainer: epoch 2/{EPOCHS}",), signal.SIGINT),
        ("Trainer", (f"Trainer: epoch 3/{EPOCHS}",), signal.SIGKILL),
        ("Evaluator", running(nodes.EVALUATOR), signal.SIGKILL),
        ("Evaluator, SIGTERM", running(nodes.EVALUATOR), signal.SIGTERM),
        ("TFLitePusher", running(nodes.TFLITE_PUSHER), signal.SIGKILL),
        ("Pusher", running(nodes.PUSHER), signal.SIGKILL),
    ]
    runs = []
    for name, markers, signum in stops:
        console = Console(args)
        console.wait_for(*markers)
        code, stop_s = console.stop(signum)
        run_id, node_runs = newest_run(config)
        runs.append(
            dict(
                summary=summary.summarize(config, run_id).as_text(),
                name=name,
                signum=signum,
                code=code,
                text=console.text(),
                stop_s=stop_s,
                run_id=run_id,
                finished=finished(node_runs),
                versions=versions_are_whole(config),
            )
        )
    code, text = run_to_end(args)
    final_id, final = newest_run(config)
    runs.append(dict(code=code, text=text, run_id=final_id, finished=finished(final)))
    versions = sorted(versions_are_whole(config))
    again_code, again_text = run_to_end(args)
    again_id, again = newest_run(config)
    return dict(
        config=config,
        args=args,
        runs=runs,
        versions=versions,
        again=(again_code, again_text, again_id, again),
    )


def test_every_stopped_run_resumes_to_a_blessed_pushed_model(chain):
    final = chain["runs"][-1]
    assert final["code"] == 0, final["text"][-3000:]
    assert "blessed          yes" in final["text"]
    result = summary.summarize(chain["config"], final["run_id"])
    assert result.blessed and result.pushed_to and result.tflite["shipped"] == ["float32"]
    assert result.stopped_at is None


def test_what_had_finished_is_cached_after_each_restart(chain):
    config = chain["config"]
    store = metadata.open_store(config.metadata_path)
    runs = chain["runs"]
    for before, after in zip(runs[:-1], runs[1:], strict=True):
        node_runs = metadata.node_runs(store, config.pipeline_name, after["run_id"])
        not_cached = {
            node
            for node in before["finished"] - set(nodes.RESOLVERS)
            if node in node_runs and node_runs[node].state != "cached"
        }
        assert not not_cached, f"after the stop in {before['name']}: ran again {not_cached}"
        assert before["finished"] <= set(node_runs), before["name"]


def test_the_component_cut_short_is_canceled_and_its_folders_removed(chain):
    config = chain["config"]
    store = metadata.open_store(config.metadata_path)
    for stopped in chain["runs"][:-1]:
        node_runs = metadata.node_runs(store, config.pipeline_name, stopped["run_id"])
        states = {node: run.state for node, run in node_runs.items()}
        assert "running" not in states.values(), (stopped["name"], states)
        canceled = [node for node, state in states.items() if state == "canceled"]
        assert canceled == [stopped["name"].split(",")[0]], (stopped["name"], states)
    assert output_folders_of_unfinished_executions(config) == []
    for base in (config.serving_dir, config.tflite_dir):
        assert [name for name in os.listdir(base) if name.endswith(".partial")] == []


def test_the_summary_of_a_stopped_run_says_where_it_stopped(chain):
    for stopped in chain["runs"][:-1]:
        component = stopped["name"].split(",")[0]
        state = "running" if stopped["signum"] == signal.SIGKILL else "canceled"
        assert f" did not finish: stopped at {component} ({state}); the same " in stopped["summary"]


def test_every_input_of_the_final_run_was_written_by_a_complete_execution(chain):
    config = chain["config"]
    store = metadata.open_store(config.metadata_path)
    final = metadata.node_runs(store, config.pipeline_name, chain["runs"][-1]["run_id"])
    read = {a.id for run in final.values() for artifacts in run.inputs.values() for a in artifacts}
    assert read
    producers = {}  # the execution that wrote it (cached executions publish it again)
    for event in store.get_events_by_artifact_ids(list(read)):
        if event.type == event.OUTPUT:
            first = producers.get(event.artifact_id, event.execution_id)
            producers[event.artifact_id] = min(first, event.execution_id)
    assert set(producers) == read
    states = {e.id: e.last_known_state for e in store.get_executions_by_id(producers.values())}
    assert {states[producers[artifact]] for artifact in read} == {store_pb2.Execution.COMPLETE}


def test_serving_folders_only_ever_hold_whole_versions(chain):
    for stopped in chain["runs"][:-1]:
        assert len(stopped["versions"]) <= 2, stopped  # at most the model and its TFLite
    assert len(chain["versions"]) == 2  # one model, one TFLite bundle: pushed once each


def test_the_trainer_resumes_from_its_last_completed_epoch(chain):
    runs = {run.get("name"): run for run in chain["runs"]}
    after_interrupt = runs[nodes.TRAINER]["text"]  # the run after Ctrl-C, killed in epoch 3
    after_kill = runs[nodes.EVALUATOR]["text"]
    for text in (after_interrupt, after_kill):
        resumed = [line for line in text.splitlines() if "Trainer: resumed from epoch" in line]
        assert resumed, text[-3000:]
        epoch = int(resumed[0].split("resumed from epoch ")[1].split()[0])
        assert epoch >= 1
        trained = [line for line in text.splitlines() if "Trainer: epoch " in line]
        assert trained[0].split("Trainer: epoch ")[1].startswith(f"{epoch + 1}/{EPOCHS}")


@pytest.mark.parametrize(
    "signum, code, component",
    [(signal.SIGINT, 130, nodes.TRAINER), (signal.SIGTERM, 143, nodes.EVALUATOR)],
)
def test_an_interrupted_run_names_the_component_and_the_command_that_resumes(
    chain, signum, code, component
):
    (stopped,) = [run for run in chain["runs"] if run.get("signum") == signum]
    assert stopped["code"] == code, stopped["text"][-3000:]
    last = stopped["text"].strip().splitlines()[-1]
    assert last.startswith(f"interrupted by {signum.name} in {component} (marked canceled)")
    assert last.endswith("resume with: " + shlex.join(["image-pipeline", *chain["args"]]))
    assert stopped["stop_s"] < 30


def test_an_unchanged_rerun_pushes_nothing_new_and_says_so(chain):
    code, text, _, node_runs = chain["again"]
    assert code == 0, text[-3000:]
    states = {node: run.state for node, run in node_runs.items() if node not in nodes.RESOLVERS}
    assert set(states.values()) == {"cached"}, states
    assert sorted(versions_are_whole(chain["config"])) == chain["versions"]
    assert "pushed model     nothing changed, model " in text


def test_a_second_run_at_once_is_refused_naming_the_first(chain):
    busy = Console([*chain["args"], "--set", f"trainer.epochs={EPOCHS + 1}"])  # trains again
    try:
        busy.wait_for(*running(nodes.TRAINER))
        code, error = run_briefly(chain["args"])
    finally:
        busy.stop(signal.SIGKILL)
    assert code == 2
    assert error.startswith(f"error: {chain['config'].output_dir}: another run is using")
    assert f"PID {busy.process.pid} " in error


def test_a_damaged_metadata_database_is_named_with_the_fix(tmp_path, digits_subset):
    output_dir = tmp_path / "damaged"
    output_dir.mkdir()
    database = output_dir / "metadata.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 1000,)] * 200)
    with open(database, "r+b") as handle:
        handle.seek(4096)
        handle.write(b"\xff" * 8192)
    args = command(output_dir, digits_subset)
    for words in (args, ["summary", *args[1:]]):
        code, error = run_briefly(words)
        assert code == 2, error
        assert error.startswith(f"error: {database}: the ML Metadata database is damaged")
        assert "set output_dir to a new folder" in error


def test_an_output_folder_under_a_file_is_named(tmp_path, digits_subset):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, error = run_briefly(command(blocker / "runs", digits_subset))
    assert code == 2
    assert error == (
        f"error: {blocker / 'runs'}: the output folder cannot be written (Not a directory); "
        "set output_dir to a folder this user can write"
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs, mounted for the test (root only, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)]).returncode:
        pytest.fail("mounting a tmpfs failed: the full-disk test needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_too_small_is_refused_before_any_work(small_disk, digits_subset):
    started = time.monotonic()
    code, error = run_briefly(command(small_disk / "runs", digits_subset))
    assert code == 2
    assert error.startswith(f"error: {small_disk / 'runs'}: only ")
    assert "MB free; a run needs at least 1024 MB" in error
    assert not (small_disk / "runs" / "pipeline_root").exists()
    assert time.monotonic() - started < 120


def test_a_disk_that_fills_during_the_run_names_the_folder_and_the_space_left(
    small_disk, digits_subset
):
    """The up-front check passes (its bar lowered for a 64 MB disk), then the disk is filled
    while the Trainer trains, so its export fails as a full disk fails."""
    console = Console(command(small_disk / "runs", digits_subset), {MIN_FREE_MB: "1"})
    console.wait_for(f"Trainer: epoch 1/{EPOCHS}")
    filler = small_disk / "filler"
    with open(filler, "wb") as handle, pytest.raises(OSError, match="No space left on device"):
        while True:
            handle.write(b"\0" * (1 << 20))
            handle.flush()
    assert console.process.wait(timeout=600) == 2, console.text()[-4000:]
    console._reader.join(30)
    error = console.lines[-1].strip()
    assert error.startswith(f"error: {small_disk / 'runs'}: the disk is full (")
    assert "run the same command again" in error
    shutil.rmtree(small_disk / "runs", ignore_errors=True)
