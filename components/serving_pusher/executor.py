"""ServingPusher's executor: TFX's blessing check and bookkeeping, our versioned publish.

TFX's Pusher executor copies the SavedModel file by file into `<base>/<version>/` (a
server polling at the wrong moment loads half a model) and keeps every version forever.
This one reuses its blessing check, model path and `pushed_*` properties, builds the pushed
copy in its own artifact folder (the SavedModel, TF Serving's warm-up requests from
warmup.py, the model card in `assets.extra/`) and publishes that copy through
components.publish: staged, renamed into place, old versions pruned. The archive copy and
the published version are the same bytes.
"""

import json
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components import publish
from components.evaluation_report import model_card
from components.serving_pusher import warmup

KEEP_VERSIONS = "keep_versions"
"""Key in the Pusher's custom_config: how many versions stay (0 keeps them all)."""
WARMUP_REQUESTS = "warmup_requests"
"""Key in the Pusher's custom_config: how many warm-up requests to write (0: no file)."""
EXAMPLES_KEY = "examples"
"""ServingPusher's input: the raw Examples whose eval images make the warm-up requests."""
MODEL_CARD_KEY = "model_card"
"""ServingPusher's input: the EvaluationReport whose model card ships with the model."""


class Executor(tfx_pusher.Executor):
    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        base_directory = destination.filesystem.base_directory
        if not base_directory:
            raise ValueError("ServingPusher: push_destination.filesystem.base_directory is empty")
        custom_config = json.loads(
            exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null"
        )
        keep_versions = int((custom_config or {}).get(KEEP_VERSIONS, 0))
        warmup_requests = int((custom_config or {}).get(WARMUP_REQUESTS, 0))
        io_utils.copy_dir(model_path, model_push.uri)  # the archive copy, as TFX's Pusher
        if warmup_requests:
            examples = input_dict.get(EXAMPLES_KEY)
            if not examples:
                raise ValueError(
                    f"ServingPusher: warmup_requests={warmup_requests} but no `examples` input"
                )
            warmup.write_warmup_requests(model_push.uri, examples, warmup_requests)
        if input_dict.get(MODEL_CARD_KEY):
            report = artifact_utils.get_single_instance(input_dict[MODEL_CARD_KEY])
            for path in model_card.ship(report.uri, model_push.uri):
                logging.info("Model card shipped with the model: %s", path)
        published = publish.publish(model_push.uri, base_directory, keep_versions)
        if published.new:
            logging.info("Model version %s published: %s", published.version, published.destination)
        self._MarkPushed(
            model_push, pushed_destination=published.destination, pushed_version=published.version
        )
