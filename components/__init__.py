"""Custom TFX components: one folder each, with spec, executor and plain logic.

Components run Beam and TensorFlow code, so the Keras switch is set before either is
imported: importing `trainer` sets it (trainer/__init__.py says why).
"""

import trainer  # noqa: F401 - sets the Keras switch


def __getattr__(name: str):
    """`components.EvaluationReport`, the report's artifact class under its type name, which
    is how TFX's Kubeflow entrypoint finds it (components/evaluation_report/component.py)."""
    if name == "EvaluationReport":
        from components.evaluation_report.component import EvaluationReportArtifact

        return EvaluationReportArtifact
    raise AttributeError(f"module 'components' has no attribute {name!r}")
