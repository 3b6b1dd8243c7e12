"""Submits runs and recurring runs of a compiled pipeline through the official KFP client.

`kfp.Client` does the work; this module adds what a command line needs around it: the
endpoint and token from the environment or the config, one quick health check so that a
wrong address or token fails in seconds (the client itself retries its own health check
for 25 s and logs tracebacks), and errors from the endpoint turned into one `KfpError` line
that names the endpoint and the fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from typing import Any, Iterator, Mapping

import kfp
import kfp_server_api
import urllib3

from pipeline.config import ConfigError, KubeflowConfig

ENDPOINT_ENV = "KFP_ENDPOINT"
TOKEN_ENV = "KFP_TOKEN"
_HEALTH_CHECK_TIMEOUT_S = 15


class KfpError(RuntimeError):
    """The KFP endpoint could not be reached or refused a request."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """A KFP client and the endpoint it talks to (for messages and UI links)."""

    client: kfp.Client
    endpoint: str


@dataclasses.dataclass(frozen=True)
class Submission:
    """What was created on the endpoint: a run or a recurring run."""

    kind: str
    id: str
    name: str
    url: str
    experiment: str
    arguments: Mapping[str, Any]

    def as_text(self) -> str:
        given = ", ".join(f"{k}={v}" for k, v in self.arguments.items()) or "none (the defaults)"
        return (
            f"Created {self.kind} {self.name!r} (id {self.id}) in experiment "
            f"{self.experiment!r}: {self.url}\n  parameters: {given}"
        )


def connect(settings: KubeflowConfig) -> Connection:
    """A client for `KFP_ENDPOINT` (or `kubeflow.endpoint`), checked to answer and accept us."""
    endpoint = os.environ.get(ENDPOINT_ENV) or settings.endpoint
    if not endpoint:
        raise ConfigError(
            f"kubeflow.endpoint: no KFP endpoint; set it in the config or export "
            f"{ENDPOINT_ENV}=https://<host>/pipeline"
        )
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"kubeflow.endpoint: {endpoint!r} has no scheme; write http://{endpoint} or "
            f"https://{endpoint}"
        )
    token = os.environ.get(TOKEN_ENV) or _read_token(settings.token_file)
    _check_health(endpoint, token)
    with _endpoint_errors(endpoint):
        client = kfp.Client(
            host=endpoint, existing_token=token, namespace=settings.namespace or "kubeflow"
        )
    return Connection(client, endpoint.rstrip("/"))


def submit(
    connection: Connection,
    settings: KubeflowConfig,
    package_path: str,
    pipeline_root: str,
    arguments: Mapping[str, Any],
    run_name: str,
) -> Submission:
    """Starts one run of the compiled pipeline in the configured experiment."""
    with _endpoint_errors(connection.endpoint):
        result = connection.client.create_run_from_pipeline_package(
            pipeline_file=package_path,
            arguments=dict(arguments),
            run_name=run_name,
            experiment_name=settings.experiment,
            namespace=settings.namespace or None,
            pipeline_root=pipeline_root,
            service_account=settings.service_account or None,
        )
    return Submission(
        "run",
        result.run_id,
        run_name,
        f"{connection.endpoint}/#/runs/details/{result.run_id}",
        settings.experiment,
        arguments,
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
    """Creates a recurring run on `kubeflow.schedule`; an existing one of that name is an
    error unless `replace`, so that running the command twice never doubles the nightly run.

    Missed runs are not caught up (`no_catchup`): after an outage the pipeline trains once on
    the latest data, not once per missed night.
    """
    client, endpoint = connection.client, connection.endpoint
    with _endpoint_errors(endpoint):
        experiment = client.create_experiment(
            name=settings.experiment, namespace=settings.namespace or None
        )
        existing = client.list_recurring_runs(
            experiment_id=experiment.experiment_id,
            filter=json.dumps(
                {
                    "predicates": [
                        {"operation": "EQUALS", "key": "display_name", "stringValue": name}
                    ]
                }
            ),
        )
        for recurring_run in existing.recurring_runs or ():
            if not replace:
                raise KfpError(
                    f"{endpoint}: a recurring run named {name!r} already exists "
                    f"(id {recurring_run.recurring_run_id}); pass --replace to replace it"
                )
            client.delete_recurring_run(recurring_run.recurring_run_id)
        created = client.create_recurring_run(
            experiment_id=experiment.experiment_id,
            job_name=name,
            cron_expression=settings.schedule,
            no_catchup=True,
            max_concurrency=1,
            params=dict(arguments),
            pipeline_package_path=package_path,
            pipeline_root=pipeline_root,
            service_account=settings.service_account or None,
        )
    return Submission(
        "recurring run",
        created.recurring_run_id,
        name,
        f"{endpoint}/#/recurringrun/details/{created.recurring_run_id}",
        settings.experiment,
        arguments,
    )


def _read_token(token_file: str) -> str | None:
    if not token_file:
        return None
    try:
        with open(token_file) as handle:
            return handle.read().strip()
    except OSError as error:
        raise ConfigError(
            f"kubeflow.token_file: cannot read {token_file} ({error.strerror}); "
            f"fix the path or export {TOKEN_ENV} instead"
        ) from None


def _check_health(endpoint: str, token: str | None) -> None:
    configuration = kfp_server_api.Configuration(host=endpoint.rstrip("/"))
    configuration.retries = 0
    if token:
        configuration.api_key["authorization"] = token
        configuration.api_key_prefix["authorization"] = "Bearer"
    api = kfp_server_api.HealthzServiceApi(kfp_server_api.ApiClient(configuration))
    with _endpoint_errors(endpoint):
        api.get_healthz(_request_timeout=_HEALTH_CHECK_TIMEOUT_S)


@contextlib.contextmanager
def _endpoint_errors(endpoint: str) -> Iterator[None]:
    """Maps the endpoint's failures to one-line `KfpError`s; keeps kfp's own prints quiet."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except kfp_server_api.ApiException as error:
        if error.status in (401, 403):
            raise KfpError(
                f"{endpoint}: {error.status} {error.reason}: the endpoint refused our "
                f"credentials; export {TOKEN_ENV} (or set kubeflow.token_file) to a valid "
                "token for this endpoint"
            ) from None
        raise KfpError(
            f"{endpoint}: the KFP API answered {error.status} {error.reason}: "
            f"{_message(error.body)}"
        ) from None
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        detail = str(reason).rsplit(": ", 1)[-1].strip("()'\"")
        raise KfpError(
            f"{endpoint}: cannot reach the KFP API ({detail}); check kubeflow.endpoint or "
            f"{ENDPOINT_ENV}, and that the port-forward or ingress is up"
        ) from None


def _message(body: Any) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(parsed.get("message") or parsed.get("error") or text)
    return " ".join(text.split())[:300] or "(no details)"
