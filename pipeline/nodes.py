"""The DAG's names: node ids, runtime parameters and orchestrators.

Kept apart from pipeline/pipeline.py, which imports every component, so that the run
summary, the report command, the Kubeflow runner and the tests name components the way the
DAG and ML Metadata do without loading the DAG.
"""

EXAMPLE_GEN = "ImageExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
IMPORT_SCHEMA_GEN = "ImportSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
PREVIOUS_SPAN_RESOLVER = "PreviousSpanStatisticsResolver"
"""Only in pipelines with `data.span_pattern`, so not in NODE_IDS."""
VALIDATION_GATE = "ValidationGate"
TRANSFORM = "Transform"
TUNER = "Tuner"
TRAINER = "Trainer"
BASELINE = "LatestBlessedModel"
EVALUATOR = "Evaluator"
EVALUATION_REPORT = "EvaluationReport"
PUSHER = "Pusher"
TFLITE_PUSHER = "TFLitePusher"

NODE_IDS = (
    EXAMPLE_GEN,
    STATISTICS_GEN,
    SCHEMA_GEN,
    IMPORT_SCHEMA_GEN,
    EXAMPLE_VALIDATOR,
    VALIDATION_GATE,
    TRANSFORM,
    TRAINER,
    BASELINE,
    EVALUATOR,
    EVALUATION_REPORT,
    PUSHER,
    TFLITE_PUSHER,
)

RESOLVERS = (BASELINE, PREVIOUS_SPAN_RESOLVER)
"""Resolver nodes locally: resolved again on every run, never taken from the cache."""

DATA_ROOT_PARAMETER = "data_root"
EPOCHS_PARAMETER = "epochs"
RUNTIME_PARAMETERS = {DATA_ROOT_PARAMETER: str, EPOCHS_PARAMETER: int}
"""TFX runtime parameters, by name, with their types: defaults are the config's values."""

LOCAL = "local"
KUBEFLOW = "kubeflow"
ORCHESTRATORS = (LOCAL, KUBEFLOW)
