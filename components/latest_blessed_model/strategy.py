"""The Evaluator's baseline locally: the latest blessed model other than the candidate.

TFX's LatestBlessedModelStrategy returns the latest blessed model, which on a re-run with
nothing changed is the candidate itself (the Trainer's cached model, blessed by the
previous run): the Evaluator's inputs change, so it runs again, compares the model with
itself, and the Pusher and TFLitePusher follow. Leaving the candidate out gives the same
baseline as when the candidate was first evaluated, so the whole run is taken from the
cache. (With warm start every run trains on from the latest blessed model, so the Trainer
itself takes that one, and the DAG keeps TFX's strategy.)
"""

from __future__ import annotations

from typing import Dict, List

from tfx import types
from tfx.dsl.components.common.resolver import ResolverStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


class LatestBlessedOtherModelStrategy(ResolverStrategy):
    """Inputs `model` and `model_blessing` (every run's) and `candidate` (the Trainer's model
    in this run); outputs `model` and `model_blessing`: the latest blessed other model, or
    nothing."""

    def resolve_artifacts(
        self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Dict[str, List[types.Artifact]]:
        candidate_ids = {artifact.id for artifact in input_dict[CANDIDATE_KEY]}
        others = {
            MODEL_KEY: [m for m in input_dict[MODEL_KEY] if m.id not in candidate_ids],
            BLESSING_KEY: input_dict[BLESSING_KEY],
        }
        resolved = LatestBlessedModelStrategy().resolve_artifacts(store, others)
        return {**resolved, CANDIDATE_KEY: []}
