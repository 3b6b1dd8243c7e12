"""Submits runs and schedules of a compiled pipeline to Vertex AI Pipelines.

`google.cloud.aiplatform` does the work (`PipelineJob.submit`, `PipelineJob.create_schedule`);
this module adds what a command line needs around it, as kfp_client.py does for
open-source KFP: the project, region and Google application default credentials checked
before anything is sent, one quick call to the API so that a wrong project, region or
credential fails in seconds (before the SDK checks the pipeline root's bucket, which retries
for up to two minutes when it cannot reach Cloud Storage), the SDK's console chatter kept
off the console, and the API's failures turned into one `VertexError` line that names the
project, the region, the endpoint and the fix.

The API endpoint is the SDK's regional default (`<region>-aiplatform.googleapis.com`);
`VERTEX_API_ENDPOINT` overrides it, e.g. with a Private Service Connect host. It may carry a
scheme (`https://host` or, for a local stand-in, `http://127.0.0.1:8080`). The SDK talks to
it over REST (HTTP/1.1 and JSON), which passes through ordinary HTTPS proxies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import sys
from typing import Any, Iterator, List, Mapping

import google.auth
import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud import aiplatform, aiplatform_v1
from google.cloud.aiplatform import initializer

from pipeline.config import ConfigError, KubeflowConfig
from pipeline.kubeflow.kfp_client import Submission

ENDPOINT_ENV = "VERTEX_API_ENDPOINT"
CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service-account key file"
)
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_CHECK_TIMEOUT_S = 15
# Vertex AI Experiments: lowercase letters, digits and hyphens, at most 128 characters.
_EXPERIMENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_CONSOLE = "https://console.cloud.google.com/vertex-ai/locations"


class VertexError(RuntimeError):
    """Vertex AI could not be reached, refused our credentials or refused a request."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where runs go (project, region, API endpoint) and the credentials they go with."""

    project: str
    region: str
    endpoint: str
    credentials: google.auth.credentials.Credentials

    @property
    def where(self) -> str:
        """The target as messages name it."""
        return f"Vertex AI (project {self.project}, region {self.region}, {self.endpoint})"


@dataclasses.dataclass(frozen=True)
class VertexSubmission(Submission):
    """A `Submission` that also carries the Vertex resource name; the experiment is optional."""

    resource_name: str = ""

    def as_text(self) -> str:
        given = ", ".join(f"{k}={v}" for k, v in self.arguments.items()) or "none (the defaults)"
        where = f" in experiment {self.experiment!r}" if self.experiment else ""
        return (
            f"Created {self.kind} {self.name!r} (id {self.id}){where}: {self.url}\n"
            f"  resource: {self.resource_name}\n  parameters: {given}"
        )


def vertex_cron(schedule: str) -> str:
    """`kubeflow.schedule` (six fields, seconds first) as Vertex's five-field cron."""
    fields = schedule.split()
    if len(fields) != 6 or fields[0] != "0":
        raise ConfigError(
            f"kubeflow.schedule: Vertex AI takes a six-field cron with 0 seconds here "
            f"(e.g. '0 0 2 * * *'), got {schedule!r}"
        )
    return " ".join(fields[1:])


def connect(settings: KubeflowConfig) -> Connection:
    """Credentials and SDK set up for `kubeflow.project` and `kubeflow.region`, checked with
    one quick call to the API."""
    if not settings.project:
        raise ConfigError(
            "kubeflow.project: Vertex AI needs the Google Cloud project to run in; set "
            "kubeflow.project in the config (or --set kubeflow.project=<project id>)"
        )
    if settings.experiment and not _EXPERIMENT_NAME.fullmatch(settings.experiment):
        raise ConfigError(
            f"kubeflow.experiment: {settings.experiment!r} is not a Vertex AI experiment name "
            "(lowercase letters, digits and hyphens); change it, or set it to '' for none"
        )
    override = os.environ.get(ENDPOINT_ENV, "").strip().rstrip("/")
    try:
        credentials, _ = google.auth.default(scopes=_SCOPES)
    except auth_exceptions.DefaultCredentialsError as error:
        raise VertexError(
            f"no Google credentials for Vertex AI ({_one_line(error)}); {CREDENTIALS_HINT}"
        ) from None
    try:
        aiplatform.init(
            project=settings.project,
            location=settings.region,
            credentials=credentials,
            api_endpoint=override or None,
            api_transport="rest",
        )
    except ValueError as error:
        raise ConfigError(f"kubeflow.region: {_one_line(error)}") from None
    endpoint = override or initializer.global_config.get_client_options().api_endpoint
    connection = Connection(settings.project, settings.region, endpoint, credentials)
    _check_reachable(connection)
    return connection


def submit(
    connection: Connection,
    settings: KubeflowConfig,
    package_path: str,
    pipeline_root: str,
    arguments: Mapping[str, Any],
    run_name: str,
) -> Submission:
    """Starts one PipelineJob of the compiled spec, in `kubeflow.experiment` if one is set
    (then the SDK waits until Vertex has started the run, to add it to the experiment)."""
    job = None
    try:
        with _api_errors(connection), _sdk_logs():
            job = _pipeline_job(connection, run_name, package_path, pipeline_root, arguments)
            job.submit(
                service_account=settings.service_account or None,
                experiment=settings.experiment or None,
            )
    except Exception as error:
        created = _created(job)
        if not created:
            raise
        # Created, then a later step failed (adding the run to the experiment).
        failure = error if isinstance(error, VertexError) else f"{connection.where}: {error}"
        failure = " ".join(str(failure).split())
        raise VertexError(
            f"{failure}; the run itself was created: {_run_url(connection, created)}"
        ) from None
    return VertexSubmission(
        "run",
        job.name,
        run_name,
        _run_url(connection, job.resource_name),
        settings.experiment,
        arguments,
        resource_name=job.resource_name,
    )


def _pipeline_job(
    connection: Connection,
    display_name: str,
    package_path: str,
    pipeline_root: str,
    arguments: Mapping[str, Any],
) -> aiplatform.PipelineJob:
    return aiplatform.PipelineJob(
        display_name=display_name,
        template_path=package_path,
        pipeline_root=pipeline_root,
        parameter_values=dict(arguments),
        project=connection.project,
        location=connection.region,
        credentials=connection.credentials,
        enable_caching=None,  # each task's caching as compiled into the spec
    )


def schedule(
    connection: Connection,
    settings: KubeflowConfig,
    package_path: str,
    pipeline_root: str,
    arguments: Mapping[str, Any],
    name: str,
    replace: bool,
) -> Submission:
    """Creates a PipelineJobSchedule on `kubeflow.schedule` (as a five-field cron, UTC); an
    existing schedule of that display name is an error unless `replace`, so that running the
    command twice never doubles the nightly run.

    At most one run at a time, and none queued behind it: a night whose run finds the last
    one still running is skipped, and missed nights are not caught up.
    """
    cron = vertex_cron(settings.schedule)
    with _api_errors(connection), _sdk_logs():
        for existing in _schedules_named(connection, name):
            if not replace:
                raise VertexError(
                    f"{connection.where}: a schedule named {name!r} already exists "
                    f"({existing.resource_name}, {existing.gca_resource.state.name}); "
                    "pass --replace to replace it"
                )
            existing.delete()
        job = _pipeline_job(connection, name, package_path, pipeline_root, arguments)
        created = job.create_schedule(
            cron=cron,
            display_name=name,
            max_concurrent_run_count=1,
            allow_queueing=False,
            service_account=settings.service_account or None,
        )
    schedule_id = created.name
    return VertexSubmission(
        "schedule",
        schedule_id,
        name,
        f"{_CONSOLE}/{connection.region}/pipelines/schedules/{schedule_id}"
        f"?project={connection.project}",
        "",  # scheduled runs belong to no Vertex AI experiment
        arguments,
        resource_name=created.resource_name,
    )


def _schedules_named(connection: Connection, name: str) -> List[aiplatform.PipelineJobSchedule]:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    found = aiplatform.PipelineJobSchedule.list(
        filter=f'display_name="{quoted}"',
        project=connection.project,
        location=connection.region,
        credentials=connection.credentials,
    )
    return [schedule for schedule in found if schedule.display_name == name]


def _created(job: aiplatform.PipelineJob | None) -> str:
    """The resource name of a job Vertex created, or "" if it never was."""
    try:
        return job.resource_name if job is not None else ""
    except RuntimeError:  # the SDK's "resource has not been created"
        return ""


def _run_url(connection: Connection, resource_name: str) -> str:
    job_id = resource_name.rsplit("/", 1)[-1]
    return f"{_CONSOLE}/{connection.region}/pipelines/runs/{job_id}?project={connection.project}"


def _check_reachable(connection: Connection) -> None:
    """One small list call: a wrong endpoint, project, region or credential fails here, in
    seconds, before the SDK touches Cloud Storage or creates anything."""
    client = aiplatform_v1.PipelineServiceClient(
        credentials=connection.credentials,
        client_options={"api_endpoint": connection.endpoint},
        transport="rest",
    )
    with _api_errors(connection):
        client.list_pipeline_jobs(
            request={
                "parent": f"projects/{connection.project}/locations/{connection.region}",
                "page_size": 1,
            },
            timeout=_CHECK_TIMEOUT_S,
        )


@contextlib.contextmanager
def _api_errors(connection: Connection) -> Iterator[None]:
    """Maps the API's failures, also when the SDK wraps them, to one-line `VertexError`s."""
    try:
        yield
    except VertexError:
        raise
    except Exception as error:  # noqa: BLE001 - re-raised below unless a cause is known
        message = _known_failure(connection, error)
        if message is None:
            raise
        raise VertexError(message) from None


def _known_failure(connection: Connection, error: BaseException) -> str | None:
    where = connection.where
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, auth_exceptions.DefaultCredentialsError):
            return f"{where}: no Google credentials ({_one_line(error)}); {CREDENTIALS_HINT}"
        if isinstance(error, auth_exceptions.RefreshError):
            return (
                f"{where}: the Google credentials could not be refreshed "
                f"({_one_line(error)}); {CREDENTIALS_HINT}"
            )
        if isinstance(error, api_exceptions.Unauthorized):
            return (
                f"{where}: 401 the API refused the credentials: {_api_message(error)}; "
                f"{CREDENTIALS_HINT}"
            )
        if isinstance(error, api_exceptions.Forbidden):
            return (
                f"{where}: 403 permission denied: {_api_message(error)}; the credentials in "
                f"use (application default credentials: {CREDENTIALS_HINT}) need the Vertex "
                f"AI User role on project {connection.project}, and the Service Account User "
                "role on kubeflow.service_account if one is set"
            )
        if isinstance(error, api_exceptions.NotFound):
            return (
                f"{where}: 404 not found: {_api_message(error)}; check kubeflow.project and "
                "kubeflow.region"
            )
        if isinstance(error, api_exceptions.BadRequest):
            return f"{where}: the API refused the request: {_api_message(error)}"
        if isinstance(
            error,
            (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                auth_exceptions.TransportError,
                api_exceptions.ServiceUnavailable,
                api_exceptions.DeadlineExceeded,
                api_exceptions.RetryError,
            ),
        ):
            return (
                f"{where}: cannot reach the API ({_reason(error)}); check the network, "
                f"kubeflow.region, and {ENDPOINT_ENV} if it is set"
            )
        if isinstance(error, api_exceptions.GoogleAPICallError):
            return f"{where}: the API answered {error.code}: {_api_message(error)}"
        error = error.__cause__ or error.__context__
    return None


def _api_message(error: api_exceptions.GoogleAPICallError) -> str:
    """The API's own message (over REST, `error.message` starts with the method and URL)."""
    text = error.message or ""
    response = getattr(error, "response", None)
    with contextlib.suppress(AttributeError, TypeError, KeyError, ValueError):
        text = response.json()["error"]["message"] or text
    return _one_line(text) or "(no details)"


def _reason(error: BaseException) -> str:
    text = str(error)
    errno = re.findall(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno[-1].strip()
    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return _one_line(text)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())[:300]


class _OneLineWarnings(logging.Handler):
    """The SDK's warnings and errors (not its progress lines) as one `warning:` line each."""

    def emit(self, record: logging.LogRecord) -> None:
        text = _one_line(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {_one_line(record.exc_info[1])}"
        print(f"warning: Vertex AI SDK: {text}", file=sys.stderr)


@contextlib.contextmanager
def _sdk_logs() -> Iterator[None]:
    """Keeps the SDK's progress lines (it prints them to stdout, with code snippets) off the
    console; what we print is the `Submission`. Its warnings still show, on one line each."""
    loggers = [
        logging.getLogger(name)
        for name in list(logging.Logger.manager.loggerDict)
        if name.startswith("google.cloud.aiplatform")
    ]
    saved = [(logger, logger.handlers[:], logger.propagate) for logger in loggers]
    handler = _OneLineWarnings(logging.WARNING)
    try:
        for logger in loggers:
            logger.handlers = [handler]
            logger.propagate = False
        yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate
