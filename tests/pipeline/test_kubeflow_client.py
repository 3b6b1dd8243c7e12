"""`submit` and `schedule` against a KFP API stand-in on loopback: no cluster, no network.

A tiny HTTP server on 127.0.0.1 records what `kfp.Client` sends and answers like the KFP v2
API; the bodies are read back with kfp_server_api's own models, so a field the API does
not know, or a wrong parameter value, fails the test.
"""

import dataclasses
import http.server
import json
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import kfp_server_api
import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import cli
from pipeline.config import ConfigError, KubeflowConfig
from pipeline.kubeflow import kfp_client

REPO = Path(__file__).resolve().parents[2]
API = "/apis/v2beta1"
TOKEN = "test-token"


class FakeKfp(http.server.ThreadingHTTPServer):
    """Answers the KFP v2beta1 calls kfp.Client makes; `status` forces every answer."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = []
        self.status = 200
        self.existing_recurring_runs = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def bodies(self, method, path):
        return [r.body for r in self.requests if r.method == method and r.path == path]


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append(
            SimpleNamespace(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query),
                authorization=self.headers.get("Authorization"),
                body=body,
            )
        )
        status, answer = self.server.status, {"error": "forced", "message": "forced failure"}
        if status == 200:
            answer = self._route(self.command, url.path, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method, path, body):
        routes = {
            ("GET", f"{API}/healthz"): lambda: {"multi_user": False},
            ("GET", f"{API}/experiments"): lambda: {},
            ("POST", f"{API}/experiments"): lambda: {**body, "experiment_id": "exp-1"},
            ("POST", f"{API}/runs"): lambda: {**body, "run_id": "run-1"},
            ("GET", f"{API}/recurringruns"): lambda: _serialize(
                kfp_server_api.V2beta1ListRecurringRunsResponse(
                    recurring_runs=self.server.existing_recurring_runs
                )
            ),
            ("POST", f"{API}/recurringruns"): lambda: {**body, "recurring_run_id": "rr-1"},
        }
        if method == "DELETE" and path.startswith(f"{API}/recurringruns/"):
            return {}
        return routes[(method, path)]()

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815 - http.server's naming


def _serialize(response_model):
    """An answer in the API's JSON, written by kfp_server_api's own serializer."""
    return kfp_server_api.ApiClient().sanitize_for_serialization(response_model)


@pytest.fixture
def kfp_api():
    server = FakeKfp()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def config_file(tmp_path, kfp_api, monkeypatch):
    monkeypatch.delenv(kfp_client.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv(kfp_client.TOKEN_ENV, TOKEN)
    path = tmp_path / "kubeflow.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "output_dir": "gs://bucket/image-pipeline",
                "schema_file": "/pipeline/schema/digits.pbtxt",
                "data": {"root": "gs://bucket/images"},
                "evaluation": {"baseline": "none"},
                "kubeflow": {
                    "image": "registry.example.com/image-pipeline:test",
                    "endpoint": kfp_api.url,
                    "experiment": "nightly",
                    "schedule": "0 30 1 * * *",
                },
            }
        )
    )
    return path


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def model(body, name):
    """Deserializes a request body with kfp_server_api's model, refusing unknown fields."""
    cls = getattr(kfp_server_api, name)
    assert set(body) <= set(cls.attribute_map.values()), f"fields {name} does not have"
    response = SimpleNamespace(data=json.dumps(body))
    return kfp_server_api.ApiClient().deserialize(response, name)


def compiled_spec(tmp_path):
    with open(tmp_path / "spec.yaml") as handle:
        return json_format.ParseDict(yaml.safe_load(handle), pipeline_spec_pb2.PipelineSpec())


def test_submit_sends_a_run_with_the_runtime_parameters(tmp_path, capsys, kfp_api, config_file):
    code, out, err = run_cli(
        capsys,
        *("submit", "--config", str(config_file), "--output", str(tmp_path / "spec.yaml")),
        *("--param", "epochs=3", "--param", "data_root=gs://bucket/images/2026-11-23"),
        *("--run-name", "manual"),
    )
    assert code == 0, err
    assert "Created run 'manual' (id run-1) in experiment 'nightly'" in out

    experiment = model(kfp_api.bodies("POST", f"{API}/experiments")[0], "V2beta1Experiment")
    assert experiment.display_name == "nightly"
    [body] = kfp_api.bodies("POST", f"{API}/runs")
    run = model(body, "V2beta1Run")
    assert (run.display_name, run.experiment_id) == ("manual", "exp-1")
    assert run.runtime_config.parameters == {
        "epochs": 3,
        "data_root": "gs://bucket/images/2026-11-23",
    }
    assert run.runtime_config.pipeline_root == "gs://bucket/image-pipeline/pipeline_root"
    sent = json_format.ParseDict(run.pipeline_spec, pipeline_spec_pb2.PipelineSpec())
    assert sent == compiled_spec(tmp_path)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in kfp_api.requests)


def test_schedule_creates_a_cron_recurring_run(tmp_path, capsys, kfp_api, config_file):
    code, out, err = run_cli(
        capsys,
        *("schedule", "--config", str(config_file), "--output", str(tmp_path / "spec.yaml")),
        *("--param", "epochs=30"),
    )
    assert code == 0, err
    assert "Created recurring run 'image-pipeline' (id rr-1)" in out

    [listing] = [
        r for r in kfp_api.requests if r.path == f"{API}/recurringruns" and r.method == "GET"
    ]
    assert listing.query["experiment_id"] == ["exp-1"]
    assert (
        json.loads(listing.query["filter"][0])["predicates"][0]["stringValue"] == "image-pipeline"
    )
    [body] = kfp_api.bodies("POST", f"{API}/recurringruns")
    recurring = model(body, "V2beta1RecurringRun")
    assert recurring.trigger.cron_schedule.cron == "0 30 1 * * *"
    assert recurring.trigger.periodic_schedule is None
    assert recurring.mode == kfp_server_api.RecurringRunMode.ENABLE
    assert (recurring.no_catchup, int(recurring.max_concurrency)) == (True, 1)
    assert recurring.runtime_config.parameters == {"epochs": 30}
    sent = json_format.ParseDict(recurring.pipeline_spec, pipeline_spec_pb2.PipelineSpec())
    assert sent == compiled_spec(tmp_path)


def test_schedule_never_doubles_a_recurring_run(tmp_path, capsys, kfp_api, config_file):
    kfp_api.existing_recurring_runs = [
        kfp_server_api.V2beta1RecurringRun(recurring_run_id="rr-0", display_name="image-pipeline")
    ]
    argv = ("schedule", "--config", str(config_file), "--output", str(tmp_path / "spec.yaml"))
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err
    assert "already exists (id rr-0); pass --replace" in err
    assert not kfp_api.bodies("POST", f"{API}/recurringruns")

    code, _, err = run_cli(capsys, *argv, "--replace")
    assert code == 0, err
    deletes = [r.path for r in kfp_api.requests if r.method == "DELETE"]
    assert deletes == [f"{API}/recurringruns/rr-0"]
    assert len(kfp_api.bodies("POST", f"{API}/recurringruns")) == 1


@pytest.mark.parametrize("command", ["submit", "schedule"])
def test_unauthorised_endpoint_is_one_line_and_exit_2(
    tmp_path, capsys, kfp_api, config_file, command
):
    kfp_api.status = 401
    code, _, err = run_cli(
        capsys, command, "--config", str(config_file), "--output", str(tmp_path / "spec.yaml")
    )
    assert code == 2
    assert err.startswith(f"error: {kfp_api.url}: 401 Unauthorized")
    assert "KFP_TOKEN" in err and "\n" not in err and "Traceback" not in err
    assert len(kfp_api.requests) == 1  # one health check, no retry loop


def test_api_error_names_the_endpoint_and_its_message(tmp_path, capsys, kfp_api, config_file):
    kfp_api.status = 500
    code, _, err = run_cli(
        capsys, "submit", "--config", str(config_file), "--output", str(tmp_path / "spec.yaml")
    )
    assert code == 2
    assert (
        err
        == f"error: {kfp_api.url}: the KFP API answered 500 Internal Server Error: forced failure"
    )


def test_unreachable_endpoint_is_one_line_and_exit_2(tmp_path, capsys, config_file, monkeypatch):
    closed = FakeKfp()
    closed.server_close()  # a port nothing listens on any more
    monkeypatch.setenv(kfp_client.ENDPOINT_ENV, closed.url)
    code, _, err = run_cli(
        capsys, "submit", "--config", str(config_file), "--output", str(tmp_path / "spec.yaml")
    )
    assert code == 2
    assert err.startswith(f"error: {closed.url}: cannot reach the KFP API (")
    assert "KFP_ENDPOINT" in err and "\n" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (("--param", "epochs=many"), "--param 'epochs=many': expected a whole number"),
        (("--param", "lr=0.1"), "NAME one of data_root, epochs"),
        (
            ("--set", "trainer.weights=imagenet", "--param", "epochs=3"),
            "--param epochs=3: trainer.fine_tuning.head_epochs: expected fewer than "
            "trainer.epochs (3) to leave epochs for fine-tuning, got 3",
        ),
    ],
)
def test_bad_runtime_arguments(capsys, kfp_api, config_file, argv, message):
    code, _, err = run_cli(capsys, "submit", "--config", str(config_file), *argv)
    assert code == 2 and message in err
    assert not kfp_api.requests


def test_endpoint_and_token_file_from_the_config(tmp_path, kfp_api, monkeypatch):
    monkeypatch.delenv(kfp_client.ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(kfp_client.TOKEN_ENV, raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    settings = KubeflowConfig(endpoint=kfp_api.url, token_file=str(token_file))
    kfp_client.connect(settings)
    assert kfp_api.requests[0].authorization == "Bearer from-file"
    with pytest.raises(ConfigError, match="kubeflow.endpoint: no KFP endpoint"):
        kfp_client.connect(KubeflowConfig())
    with pytest.raises(ConfigError, match="kubeflow.token_file: cannot read"):
        kfp_client.connect(dataclasses.replace(settings, token_file=str(tmp_path / "none")))
