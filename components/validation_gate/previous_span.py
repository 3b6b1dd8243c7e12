"""Resolves the statistics of the span before the newest one: the gate's drift baseline.

TFX's span resolvers do not fit statistics: `rolling_range` needs a `version` property,
which ExampleStatistics lacks, and `SpanRangeStrategy` reads a `span` custom property,
which StatisticsGen does not set (it copies the Examples' `span` property). So this small
strategy picks, among all statistics StatisticsGen ever wrote, the newest one of the
largest span below the newest span. With one span so far it resolves nothing, and the gate
then skips the drift check (its baseline input is optional).
"""

from __future__ import annotations

from typing import Dict, List

from tfx import types
from tfx.dsl.components.common.resolver import ResolverStrategy


def previous_span(artifacts: List[types.Artifact]) -> List[types.Artifact]:
    """The newest artifact of the second-largest span, or nothing when there is one span."""
    spans = sorted({artifact.span for artifact in artifacts})
    if len(spans) < 2:
        return []
    candidates = [artifact for artifact in artifacts if artifact.span == spans[-2]]
    return [max(candidates, key=lambda a: (a.mlmd_artifact.create_time_since_epoch, a.id))]


class PreviousSpanStrategy(ResolverStrategy):
    """`previous_span` for every input channel of a Resolver."""

    def resolve_artifacts(
        self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Dict[str, List[types.Artifact]]:
        del store  # everything needed is in the artifacts' properties
        return {key: previous_span(artifacts) for key, artifacts in input_dict.items()}
