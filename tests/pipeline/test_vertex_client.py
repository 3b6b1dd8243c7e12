"""`submit` and `schedule` with `kubeflow.backend: vertex` against a Vertex AI stand-in on
loopback: no Google project, no real credentials, no network.

A tiny HTTP server on 127.0.0.1 answers the Vertex AI v1 REST calls that
`google.cloud.aiplatform` makes, pointed at it with `VERTEX_API_ENDPOINT` (the module's
documented endpoint override). It also plays Cloud Storage (`STORAGE_EMULATOR_HOST`, the
storage client's own emulator switch), because `PipelineJob.submit` checks the pipeline
root's bucket. Google's application-default credential lookup (`google.auth.default`) hands
out a fixed bearer token here: with a service-account key, even a made-up one, google-auth
looks up the account's regional access boundary on iamcredentials.googleapis.com, which a
test must not reach.
Request bodies are read back with the `aiplatform_v1` messages, strictly, so a field Vertex
does not know fails the test.
"""

import http.server
import json
import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlparse

import google.auth
import google.auth.credentials
import pytest
import yaml
from google.cloud import aiplatform_v1
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import cli
from pipeline.config import ConfigError, KubeflowConfig
from pipeline.kubeflow import vertex_client

PROJECT = "my-project"
REGION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
API = f"/v1/{PARENT}"
SERVICE_ACCOUNT = "runner@my-project.iam.gserviceaccount.com"
SPEC_NAME = "spec.yaml"
TOKEN = "fake-token"
APPLICATION_DEFAULT_CREDENTIALS = google.auth.default


class FixedToken(google.auth.credentials.Credentials):
    """Credentials with a token that never expires, as `google.auth.default` returns them."""

    def __init__(self):
        super().__init__()
        self.token = TOKEN

    def refresh(self, request):
        self.token = TOKEN


class FakeVertex(http.server.ThreadingHTTPServer):
    """Answers the Vertex AI v1 calls the SDK makes (and the bucket calls before a run);
    `fail(method, path, code, status, message)` makes that call answer an error."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = []
        self.failures = {}
        self.existing_schedules = []
        self.experiments = set()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fail(self, method, path, code, status, message):
        self.failures[(method, path)] = (code, status, message)

    def bodies(self, method, path):
        return [r.body for r in self.requests if r.method == method and r.path == path]

    def api_requests(self):
        return [r for r in self.requests if r.path.startswith("/v1/")]


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self):
        url = urlparse(self.path)
        path = unquote(url.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        request = SimpleNamespace(
            method=self.command,
            path=path,
            query=parse_qs(url.query),
            authorization=self.headers.get("Authorization"),
            body=body,
        )
        self.server.requests.append(request)
        failure = self.server.failures.get((self.command, path))
        if failure:
            code, status, message = failure
            status_code, answer = (
                code,
                {"error": {"code": code, "message": message, "status": status}},
            )
        else:
            status_code, answer = self._route(request)
        data = json.dumps(answer).encode()
        self.send_response(status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, r):
        server = self.server
        store = f"{API}/metadataStores/default"
        if r.path.startswith("/storage/v1/b"):  # a fresh bucket, created on first use
            if r.method == "GET" and r.path == "/storage/v1/b/bucket":
                return 404, {"error": {"code": 404, "message": "No such bucket"}}
            if r.path.endswith("/iam"):
                return 200, r.body if r.method == "PUT" else {"bindings": []}
            return 200, {"name": "bucket"}
        routes = {
            ("GET", f"{API}/pipelineJobs"): lambda: {},
            ("POST", f"{API}/pipelineJobs"): lambda: {
                **r.body,
                "name": f"{PARENT}/pipelineJobs/{r.query['pipelineJobId'][0]}",
                "state": "PIPELINE_STATE_PENDING",
            },
            ("GET", f"{API}/schedules"): lambda: {"schedules": server.existing_schedules},
            ("POST", f"{API}/schedules"): lambda: {
                **r.body,
                "name": f"{PARENT}/schedules/4242",
                "state": "ACTIVE",
            },
            ("GET", store): lambda: {"name": f"{PARENT}/metadataStores/default"},
            ("POST", f"{store}/contexts"): lambda: self._new_experiment(r),
        }
        if (r.method, r.path) in routes:
            return 200, routes[(r.method, r.path)]()
        if r.method == "GET" and r.path.startswith(f"{API}/pipelineJobs/"):
            job_id = r.path.rsplit("/", 1)[-1]
            return 200, {
                "name": f"{PARENT}/pipelineJobs/{job_id}",
                "state": "PIPELINE_STATE_RUNNING",
                "jobDetail": {
                    "pipelineRunContext": {
                        "name": f"{PARENT}/metadataStores/default/contexts/{job_id}"
                    }
                },
            }
        if r.method == "GET" and r.path.startswith(f"{store}/contexts/"):
            name = r.path.rsplit("/", 1)[-1]
            if name not in server.experiments:
                return 404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
            return 200, _experiment_context(name)
        if r.method == "POST" and r.path.endswith(":addContextChildren"):
            return 200, {}
        if r.method == "DELETE" and r.path.startswith(f"{API}/schedules/"):
            return 200, {
                "name": f"{PARENT}/operations/1",
                "done": True,
                "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
            }
        return 404, {"error": {"code": 404, "message": f"no route {r.method} {r.path}"}}

    def _new_experiment(self, r):
        name = r.query["contextId"][0]
        self.server.experiments.add(name)
        return {**r.body, "name": f"{PARENT}/metadataStores/default/contexts/{name}"}

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815 - http.server's


def _experiment_context(name):
    return {
        "name": f"{PARENT}/metadataStores/default/contexts/{name}",
        "displayName": name,
        "schemaTitle": "system.Experiment",
        "metadata": {"experiment_deleted": False},
    }


@pytest.fixture
def vertex_api(monkeypatch):
    server = FakeVertex()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv(vertex_client.ENDPOINT_ENV, server.url)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    scopes_asked = []

    def default(scopes=None, **kwargs):
        scopes_asked.append(scopes)
        return FixedToken(), None

    monkeypatch.setattr(google.auth, "default", default)
    server.scopes_asked = scopes_asked
    yield server
    server.shutdown()
    server.server_close()


def write_config(tmp_path, **kubeflow):
    settings = {
        "backend": "vertex",
        "image": "registry.example.com/image-pipeline:test",
        "project": PROJECT,
        "region": REGION,
        "experiment": "",
        "service_account": SERVICE_ACCOUNT,
        "schedule": "0 30 1 * * *",
        **kubeflow,
    }
    path = tmp_path / "vertex.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "output_dir": "gs://bucket/image-pipeline",
                "schema_file": "/pipeline/schema/digits.pbtxt",
                "data": {"root": "gs://bucket/images"},
                "kubeflow": settings,
            }
        )
    )
    return path


@pytest.fixture
def config_file(tmp_path, vertex_api):
    return write_config(tmp_path)


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def command(name, config_file, tmp_path, *extra):
    return (name, "--config", str(config_file), "--output", str(tmp_path / SPEC_NAME), *extra)


def strict(message_class, body):
    """A request body read as Vertex's own message, refusing fields it does not have."""
    return message_class.from_json(json.dumps(body), ignore_unknown_fields=False)


def spec_of(pipeline_job_body):
    """The pipelineSpec of a PipelineJob body, parsed strictly as KFP's PipelineSpec."""
    return json_format.ParseDict(
        pipeline_job_body["pipelineSpec"], pipeline_spec_pb2.PipelineSpec()
    )


def created_job_id(vertex_api):
    """The id the SDK asked for in its one create call (`pipelineJobId`)."""
    [create] = [
        r for r in vertex_api.requests if r.method == "POST" and r.path == f"{API}/pipelineJobs"
    ]
    return create.query["pipelineJobId"][0]


def compiled_spec(tmp_path):
    with open(tmp_path / SPEC_NAME) as handle:
        return json_format.ParseDict(yaml.safe_load(handle), pipeline_spec_pb2.PipelineSpec())


def test_submit_sends_a_pipeline_job_with_the_spec_and_runtime_parameters(
    tmp_path, capsys, vertex_api, config_file
):
    code, out, err = run_cli(
        capsys,
        *command("submit", config_file, tmp_path, "--run-name", "manual"),
        *("--param", "epochs=3", "--param", "data_root=gs://bucket/images/2026-11-23"),
    )
    assert code == 0, err

    [body] = vertex_api.bodies("POST", f"{API}/pipelineJobs")
    job = strict(aiplatform_v1.PipelineJob, body)
    assert job.display_name == "manual"
    assert job.service_account == SERVICE_ACCOUNT
    assert spec_of(body) == compiled_spec(tmp_path)
    assert job.runtime_config.gcs_output_directory == "gs://bucket/image-pipeline/pipeline_root"
    assert dict(job.runtime_config.parameter_values) == {
        "epochs": 3,
        "data_root": "gs://bucket/images/2026-11-23",
    }

    job_id = created_job_id(vertex_api)
    assert f"Created run 'manual' (id {job_id}):" in out
    assert (
        f"https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/runs/"
        f"{job_id}?project={PROJECT}" in out
    )
    assert "parameters: epochs=3, data_root=gs://bucket/images/2026-11-23" in out
    # The SDK's own progress lines (code snippets, links) stay off the console.
    assert "aiplatform.PipelineJob.get" not in out + err
    # The application default credentials, scoped for Google Cloud, sign every API call.
    assert vertex_api.scopes_asked == [("https://www.googleapis.com/auth/cloud-platform",)]
    assert all(r.authorization == f"Bearer {TOKEN}" for r in vertex_api.api_requests())


def test_sdk_trouble_with_the_bucket_is_one_warning_line(tmp_path, capsys, vertex_api, config_file):
    vertex_api.fail("GET", "/storage/v1/b/bucket", 403, "forbidden", "no storage.buckets.get")
    code, out, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 0, err
    assert "Created run " in out
    [warning] = err.splitlines()
    assert warning.startswith(
        "warning: Vertex AI SDK: Error when trying to get or create a GCS bucket for the "
        "pipeline output artifacts: 403 GET "
    )
    assert "Traceback" not in out + err


def test_submit_in_an_experiment_adds_the_run_to_it(tmp_path, capsys, vertex_api):
    config_file = write_config(tmp_path, experiment="nightly")
    code, out, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 0, err
    assert "in experiment 'nightly'" in out
    [context] = vertex_api.bodies("POST", f"{API}/metadataStores/default/contexts")
    assert (context["displayName"], context["schemaTitle"]) == ("nightly", "system.Experiment")
    [children] = [
        r.body
        for r in vertex_api.requests
        if r.path == f"{API}/metadataStores/default/contexts/nightly:addContextChildren"
    ]
    job_id = created_job_id(vertex_api)
    assert children["childContexts"] == [f"{PARENT}/metadataStores/default/contexts/{job_id}"]


def test_a_run_created_outside_its_experiment_says_so(tmp_path, capsys, vertex_api):
    config_file = write_config(tmp_path, experiment="nightly")
    children = f"{API}/metadataStores/default/contexts/nightly:addContextChildren"
    vertex_api.fail("POST", children, 500, "INTERNAL", "metadata store unavailable")
    code, _, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 2
    job_id = created_job_id(vertex_api)
    assert err == (
        f"error: Vertex AI (project {PROJECT}, region {REGION}, {vertex_api.url}): the API "
        "answered 500: metadata store unavailable; the run itself was created: "
        f"https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/runs/"
        f"{job_id}?project={PROJECT}"
    )


def test_schedule_creates_a_five_field_cron_with_one_run_at_a_time(
    tmp_path, capsys, vertex_api, config_file
):
    code, out, err = run_cli(
        capsys, *command("schedule", config_file, tmp_path, "--param", "epochs=30")
    )
    assert code == 0, err

    [listing] = [
        r for r in vertex_api.requests if r.method == "GET" and r.path == f"{API}/schedules"
    ]
    assert listing.query["filter"] == ['display_name="image-pipeline"']
    [body] = vertex_api.bodies("POST", f"{API}/schedules")
    created = strict(aiplatform_v1.Schedule, body)
    assert created.display_name == "image-pipeline"
    assert created.cron == "30 1 * * *"
    assert created.max_concurrent_run_count == 1
    assert not created.allow_queueing
    request = created.create_pipeline_job_request
    assert request.parent == PARENT
    assert request.pipeline_job.service_account == SERVICE_ACCOUNT
    assert spec_of(body["createPipelineJobRequest"]["pipelineJob"]) == compiled_spec(tmp_path)
    assert dict(request.pipeline_job.runtime_config.parameter_values) == {"epochs": 30}
    assert (
        request.pipeline_job.runtime_config.gcs_output_directory
        == "gs://bucket/image-pipeline/pipeline_root"
    )

    assert "Created schedule 'image-pipeline' (id 4242):" in out
    assert f"pipelines/schedules/4242?project={PROJECT}" in out
    assert f"resource: {PARENT}/schedules/4242" in out
    assert "schedule: 30 1 * * * (Vertex AI cron, UTC; kubeflow.schedule '0 30 1 * * *'" in out
    # A schedule needs no bucket check and no run of its own.
    assert not vertex_api.bodies("POST", f"{API}/pipelineJobs")


def test_schedule_never_doubles_a_schedule(tmp_path, capsys, vertex_api, config_file):
    vertex_api.existing_schedules = [
        {"name": f"{PARENT}/schedules/7", "displayName": "image-pipeline", "state": "ACTIVE"}
    ]
    argv = command("schedule", config_file, tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err
    assert f"a schedule named 'image-pipeline' already exists ({PARENT}/schedules/7, ACTIVE)" in err
    assert "pass --replace" in err
    assert not vertex_api.bodies("POST", f"{API}/schedules")

    code, _, err = run_cli(capsys, *argv, "--replace")
    assert code == 0, err
    deletes = [r.path for r in vertex_api.requests if r.method == "DELETE"]
    assert deletes == [f"{API}/schedules/7"]
    assert len(vertex_api.bodies("POST", f"{API}/schedules")) == 1


@pytest.mark.parametrize("name", ["submit", "schedule"])
def test_permission_denied_is_one_line_naming_project_endpoint_and_credentials(
    tmp_path, capsys, vertex_api, config_file, name
):
    for path in (f"{API}/pipelineJobs", f"{API}/schedules"):
        vertex_api.fail(
            "GET",
            path,
            403,
            "PERMISSION_DENIED",
            "Permission 'aiplatform.pipelineJobs.list' "
            f"denied on resource '//aiplatform.googleapis.com/{PARENT}'",
        )
    code, out, err = run_cli(capsys, *command(name, config_file, tmp_path))
    assert code == 2
    assert err.startswith(
        f"error: Vertex AI (project {PROJECT}, region {REGION}, {vertex_api.url}): "
        "403 permission denied: Permission 'aiplatform.pipelineJobs.list' denied"
    )
    assert "gcloud auth application-default login" in err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err
    assert "\n" not in err and "Traceback" not in err
    # Refused on the first call: nothing created, no bucket touched.
    assert [r.method for r in vertex_api.api_requests()] == ["GET"]
    assert not [r for r in vertex_api.requests if r.path.startswith("/storage/")]


def test_a_refused_spec_ends_in_the_apis_message(tmp_path, capsys, vertex_api, config_file):
    message = "Invalid pipeline spec: task 'Trainer' has an unknown executor label."
    vertex_api.fail("POST", f"{API}/pipelineJobs", 400, "INVALID_ARGUMENT", message)
    code, _, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 2
    assert err == (
        f"error: Vertex AI (project {PROJECT}, region {REGION}, {vertex_api.url}): "
        f"the API refused the request: {message}"
    )


def test_unknown_project_is_one_line(tmp_path, capsys, vertex_api, config_file):
    vertex_api.fail("GET", f"{API}/pipelineJobs", 404, "NOT_FOUND", "Project not found")
    code, _, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 2
    assert err.endswith(
        "404 not found: Project not found; check kubeflow.project and kubeflow.region"
    )


def test_unreachable_endpoint_is_one_line(tmp_path, capsys, config_file, monkeypatch):
    closed = FakeVertex()
    closed.server_close()  # a port nothing listens on any more
    monkeypatch.setenv(vertex_client.ENDPOINT_ENV, closed.url)
    code, _, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 2
    assert err.startswith(f"error: Vertex AI (project {PROJECT}, region {REGION}, {closed.url}):")
    assert "cannot reach the API (Connection refused)" in err
    assert vertex_client.ENDPOINT_ENV in err and "\n" not in err


def test_no_credentials_names_the_fix(tmp_path, capsys, config_file, monkeypatch):
    monkeypatch.setattr(google.auth, "default", APPLICATION_DEFAULT_CREDENTIALS)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    code, _, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 2
    assert err.startswith("error: no Google credentials for Vertex AI (")
    assert "gcloud auth application-default login" in err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err and "\n" not in err


def test_no_project_is_a_config_error(tmp_path, capsys, vertex_api):
    config_file = write_config(tmp_path, project="")
    code, _, err = run_cli(capsys, *command("submit", config_file, tmp_path))
    assert code == 2
    assert err.startswith("error: kubeflow.project: Vertex AI needs the Google Cloud project")
    assert "--set kubeflow.project=" in err
    assert not vertex_api.requests
    with pytest.raises(ConfigError, match="kubeflow.project"):
        vertex_client.connect(KubeflowConfig(backend="vertex"))


def test_settings_vertex_cannot_take(vertex_api):
    with pytest.raises(ConfigError, match="kubeflow.experiment: 'Default' is not a Vertex AI"):
        vertex_client.connect(KubeflowConfig(backend="vertex", project=PROJECT))
    with pytest.raises(ConfigError, match="kubeflow.region: "):
        vertex_client.connect(
            KubeflowConfig(backend="vertex", project=PROJECT, experiment="", region="mars-1")
        )
    assert vertex_client.vertex_cron("0 0 2 * * 1-5") == "0 2 * * 1-5"
    with pytest.raises(ConfigError, match="kubeflow.schedule"):
        vertex_client.vertex_cron("30 0 2 * * *")
    assert not vertex_api.requests
