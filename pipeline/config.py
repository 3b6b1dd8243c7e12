"""The pipeline's configuration: one frozen dataclass tree, each section validating itself.

Every knob a user turns lives here, so `create_pipeline(config)` needs nothing else and a
run is reproducible from its YAML file (read by pipeline/config_loader.py). Validation is
strict: a value of the wrong range is a `ConfigError` whose one-line message names the key,
what was expected and what was found (`require`), because a typo that is silently ignored
costs a whole training run. What the Trainer can build (backbones, TFLite conversions) is
the Trainer's to say: trainer/backbones.py, trainer/conversions.py. The sections the Trainer
is configured with (`trainer`, `augmentation`) are defined in trainer/settings.py, which
rebuilds them on the Trainer's side of the TFX boundary.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Sequence

from pipeline import nodes
from trainer.backbones import BACKBONES
from trainer.conversions import CONVERSIONS, INT8
from trainer.settings import (  # noqa: F401 - ConfigError and require are the config's API
    AugmentationConfig,
    ConfigError,
    TrainerConfig,
    require,
)

BASELINES = ("latest_blessed", "none")
KUBEFLOW_BACKENDS = ("kfp", "vertex")
MAX_WARMUP_REQUESTS = 1000
"""TF Serving reads at most this many warm-up records (its SavedModel warm-up guide)."""


NO_SCHEMA = (
    "schema_file: not set; `image-pipeline init DATA_DIR --config configs/NAME.yaml` writes a "
    "config and a curated schema for the images in DATA_DIR (README, 'Running on your own "
    "images'), or point schema_file at a curated schema.pbtxt"
)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images are, what ingestion accepts, and how examples are split.

    `root` is a class-per-folder tree (every sub-folder is a class, named after the folder),
    or the folder of `manifest`, a CSV or JSONL file of `path,label[,split]` rows with paths
    relative to it. With `span_pattern` (a folder name with `{SPAN}`, e.g. `span-{SPAN}`),
    each run ingests only the newest span folder under `root`, and Transform and the Trainer
    see the `latest_spans` newest spans. Images with a side under `min_side` or more than
    `max_pixels` pixels (read from the header, before decoding) are quarantined, and the run
    fails when more than `max_quarantine_fraction` of the files that are not ignored are
    quarantined, or when a class gives fewer than `min_images_per_class` examples (0: no
    minimum; a class folder that gives none is reported either way). Examples go to a split
    by a hash of the image content, in proportion to `split` (a manifest's `split` column
    overrides it), so an image lands in the same split on every run and identical images
    never straddle splits.
    """

    root: str = "data/digits"
    manifest: str = ""
    span_pattern: str = ""
    latest_spans: int = 1
    min_side: int = 8
    max_pixels: int = 50_000_000
    max_quarantine_fraction: float = 0.1
    min_images_per_class: int = 1
    split: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"train": 8, "eval": 2})

    @property
    def input_pattern(self) -> str:
        """The ExampleGen input pattern: `*` (class folders) or the manifest, maybe in a span."""
        name = self.manifest or "*"
        return f"{self.span_pattern}/{name}" if self.span_pattern else name

    def validate(self) -> None:
        require(
            set(self.split) == {"train", "eval"},
            "data.split",
            "the splits 'train' and 'eval'",
            sorted(self.split),
        )
        for name, buckets in self.split.items():
            require(
                buckets >= 1,
                f"data.split.{name}",
                "a whole number >= 1 (a share of the hash buckets)",
                buckets,
            )
        require(
            not self.manifest
            or ("*" not in self.manifest and self.manifest.lower().endswith((".csv", ".jsonl"))),
            "data.manifest",
            "a .csv or .jsonl file name in data.root",
            self.manifest,
        )
        require(
            not self.span_pattern
            or ("{SPAN}" in self.span_pattern and "*" not in self.span_pattern),
            "data.span_pattern",
            "a folder name with {SPAN} such as 'span-{SPAN}'",
            self.span_pattern,
        )
        require(self.latest_spans >= 1, "data.latest_spans", "at least 1", self.latest_spans)
        require(self.min_side >= 1, "data.min_side", "at least 1 pixel", self.min_side)
        require(
            self.max_pixels >= self.min_side**2,
            "data.max_pixels",
            f"at least min_side squared ({self.min_side**2})",
            self.max_pixels,
        )
        require(
            self.min_images_per_class >= 0,
            "data.min_images_per_class",
            "a whole number >= 0 (0: no minimum)",
            self.min_images_per_class,
        )
        require(
            0 <= self.max_quarantine_fraction <= 1,
            "data.max_quarantine_fraction",
            "a value in [0, 1]",
            self.max_quarantine_fraction,
        )


DRIFT_FEATURES = ("label", "format")
"""Categorical features of the data contract whose drift between spans can be limited."""


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """What happens when ExampleValidator finds anomalies, a new span drifts, or splits skew.

    `on_anomalies: stop` ends the run before Transform and training, listing the anomalies;
    `warn` logs them and goes on. `max_drift` limits, per categorical feature, the
    L-infinity distance between the new span's value distribution and the previous
    span's (the largest change in any one value's share, 0 to 1); `max_skew` limits the
    same distance between the train and the eval split of a run (a manifest's split column
    that puts most of one class in eval, say). Leave a feature out to not check it.
    """

    on_anomalies: str = "stop"
    max_drift: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"label": 0.3, "format": 0.5}
    )
    max_skew: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"label": 0.2, "format": 0.3}
    )

    def validate(self) -> None:
        require(
            self.on_anomalies in ("stop", "warn"),
            "validation.on_anomalies",
            "stop or warn",
            self.on_anomalies,
        )
        for name, limits in (("max_drift", self.max_drift), ("max_skew", self.max_skew)):
            for feature, limit in limits.items():
                require(
                    feature in DRIFT_FEATURES,
                    f"validation.{name}.{feature}",
                    f"one of {', '.join(DRIFT_FEATURES)} (categorical features)",
                    feature,
                )
                require(
                    0 < limit <= 1,
                    f"validation.{name}.{feature}",
                    "a number in (0, 1]",
                    limit,
                )


@dataclasses.dataclass(frozen=True)
class PreprocessingConfig:
    """What Transform does to every image, in training and at serving alike.

    `image_size` is the side of the square model input; 0 means the backbone's native size
    (224 for EfficientNetB0, see BACKBONES).
    """

    image_size: int = 0

    def validate(self) -> None:
        require(
            self.image_size == 0 or self.image_size >= 16,
            "preprocessing.image_size",
            "0 (the backbone's native size) or at least 16 pixels",
            self.image_size,
        )


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """The gate a candidate model must pass to be blessed and pushed.

    `min_accuracy` is an absolute bound on the overall slice. `max_accuracy_drop` is how much
    accuracy the candidate may lose against the latest blessed model (ignored on the first
    run, when there is no baseline). `baseline: none` leaves the baseline node out of the
    DAG, so only `min_accuracy` gates the push (pipeline/pipeline.py, `_baseline`: ML
    Metadata's resolver locally, an ordinary task on Kubeflow). `top_k` is the k of the
    reported top-k accuracy (not gated).
    `size_buckets` are the edges, in pixels of the shorter side of the original image, of
    the size slices (the default gives <64, 64-255, 256-1023 and >=1024); empty: no size
    slices.
    """

    min_accuracy: float = 0.9
    max_accuracy_drop: float = 0.01
    baseline: str = "latest_blessed"
    top_k: int = 3
    size_buckets: Sequence[int] = (64, 256, 1024)

    def validate(self) -> None:
        require(
            self.baseline in BASELINES,
            "evaluation.baseline",
            f"one of {', '.join(BASELINES)}",
            self.baseline,
        )
        require(
            0 <= self.min_accuracy <= 1,
            "evaluation.min_accuracy",
            "a value in [0, 1]",
            self.min_accuracy,
        )
        require(
            0 <= self.max_accuracy_drop <= 1,
            "evaluation.max_accuracy_drop",
            "a value in [0, 1]",
            self.max_accuracy_drop,
        )
        require(self.top_k >= 1, "evaluation.top_k", "a whole number >= 1", self.top_k)
        edges = list(self.size_buckets)
        require(
            all(edge > 0 for edge in edges) and edges == sorted(set(edges)),
            "evaluation.size_buckets",
            "increasing whole numbers of pixels, e.g. [64, 256, 1024]",
            edges,
        )


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Where a blessed model is pushed: `<output_dir>/serving/<model_name>/<version>/`.

    `keep_versions` is how many versions stay, newest first, both there and in
    `<output_dir>/tflite/<model_name>/`; 0 keeps them all. Each version appears whole
    (staged, then renamed into place: components/publish.py). The serving signatures refuse
    an image of more than `max_pixels` pixels, read from its header before any pixel is
    decoded (trainer/decode.py); it must admit every image ingestion accepts. The pushed
    SavedModel carries `warmup_requests` TF Serving warm-up requests, one per image of the
    first eval examples, replayed at load so the first user request is not the slow one
    (components/serving_pusher/warmup.py); 0 writes no warm-up file.
    """

    model_name: str = "image_classifier"
    keep_versions: int = 5
    max_pixels: int = 50_000_000
    warmup_requests: int = 8

    def validate(self) -> None:
        require(
            bool(self.model_name) and "/" not in self.model_name,
            "serving.model_name",
            "a plain name without '/'",
            self.model_name,
        )
        require(
            self.keep_versions >= 0,
            "serving.keep_versions",
            "a whole number >= 0 (0 keeps every version)",
            self.keep_versions,
        )
        require(
            0 <= self.warmup_requests <= MAX_WARMUP_REQUESTS,
            "serving.warmup_requests",
            f"a whole number from 0 (no warm-up file) to {MAX_WARMUP_REQUESTS}",
            self.warmup_requests,
        )


@dataclasses.dataclass(frozen=True)
class TfliteConfig:
    """TFLite models for phones and edge devices, made from a blessed model.

    `conversions` are any of float32, dynamic_range (int8 weights, float activations) and
    int8 (full integer, calibrated on training images; uint8 input). Each is evaluated on the
    eval split with the TFLite interpreter and ships to
    `<output_dir>/tflite/<model_name>/<version>/` only if it loses at most
    `max_accuracy_drop` accuracy (a fraction: 0.01 is one point) against the SavedModel.
    An empty list leaves the TFLite step out of the pipeline. With `qat`, an int8 conversion
    that misses the tolerance is made again after `qat_epochs` epochs of quantization-aware
    training on the training images (trainer/qat.py), and the more accurate one is kept.
    """

    conversions: Sequence[str] = CONVERSIONS
    max_accuracy_drop: float = 0.01
    qat: bool = False
    qat_epochs: int = 2

    def validate(self) -> None:
        for index, kind in enumerate(self.conversions):
            require(
                kind in CONVERSIONS,
                f"tflite.conversions[{index}]",
                f"one of {', '.join(CONVERSIONS)}",
                kind,
            )
        require(
            len(set(self.conversions)) == len(self.conversions),
            "tflite.conversions",
            "each conversion at most once",
            list(self.conversions),
        )
        require(
            0 <= self.max_accuracy_drop <= 1,
            "tflite.max_accuracy_drop",
            "a fraction in [0, 1] (0.01 is one accuracy point)",
            self.max_accuracy_drop,
        )
        require(
            self.qat_epochs >= 1,
            "tflite.qat_epochs",
            "a whole number >= 1 (epochs of quantization-aware training)",
            self.qat_epochs,
        )
        require(
            not self.qat or INT8 in self.conversions,
            "tflite.qat",
            f"false unless tflite.conversions has {INT8} (quantization-aware training only "
            "remakes the int8 conversion)",
            self.qat,
        )


@dataclasses.dataclass(frozen=True)
class ResourcesConfig:
    """The pod of one component on Kubeflow (0 or empty: the default for that component in
    pipeline/kubeflow/resources.py's `DEFAULTS`).

    `cpu` and `memory_gb` (gigabytes) are the pod's limits, the most it may use;
    `cpu_request` and `memory_gb_request` what the scheduler reserves for it, so it starts on
    a node with that much free. `gpu` GPUs of `gpu_type`, the accelerator as the backend
    names it (`nvidia.com/gpu` on open-source Kubeflow, `NVIDIA_TESLA_T4` and the like on
    Vertex AI). `node_selector`: node labels the pod must run on, e.g.
    `{cloud.google.com/gke-accelerator: nvidia-tesla-t4}` (open-source Kubeflow only).
    """

    cpu: float = 0.0
    cpu_request: float = 0.0
    memory_gb: float = 0.0
    memory_gb_request: float = 0.0
    gpu: int = 0
    gpu_type: str = ""
    node_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def validate(self, key: str) -> None:
        for name in ("cpu", "cpu_request", "memory_gb", "memory_gb_request", "gpu"):
            require(getattr(self, name) >= 0, f"{key}.{name}", "0 or more", getattr(self, name))
        for request, limit in (("cpu_request", "cpu"), ("memory_gb_request", "memory_gb")):
            require(
                not getattr(self, limit) or getattr(self, request) <= getattr(self, limit),
                f"{key}.{request}",
                f"at most {key}.{limit} ({getattr(self, limit)}), the limit: lower the "
                f"request or raise {limit}",
                getattr(self, request),
            )
        require(
            bool(self.gpu_type) or not self.gpu,
            f"{key}.gpu_type",
            f"the accelerator's name with gpu: {self.gpu} (e.g. nvidia.com/gpu)",
            self.gpu_type,
        )
        require(
            all(self.node_selector),
            f"{key}.node_selector",
            "node labels by name (e.g. {cloud.google.com/gke-accelerator: nvidia-tesla-t4})",
            dict(self.node_selector),
        )


@dataclasses.dataclass(frozen=True)
class ComponentConfig:
    """Settings for one component, keyed by its node id under `components:`.

    `beam_pipeline_args` are appended to the pipeline-level ones for that component only (on
    both runners), e.g. more DirectRunner workers or bigger Dataflow machines for Transform.
    `resources` apply on Kubeflow only, where `--direct_num_workers=0` means one worker per
    CPU of the pod's limit rather than of the node; the local runner shares this machine.
    """

    beam_pipeline_args: Sequence[str] = ()
    resources: ResourcesConfig = dataclasses.field(default_factory=ResourcesConfig)


@dataclasses.dataclass(frozen=True)
class RetriesConfig:
    """Which Kubeflow tasks run again when their pod fails, and when (pipeline/kubeflow/retries.py).

    A task that runs for hours should not be lost to one killed pod; the Trainer's retry
    resumes from its last completed epoch, so it is retried by default. `tasks` are node ids
    (one the DAG does not have, the Tuner without tuning, is skipped). A failed pod runs again
    up to `max_retries` times, the first after `backoff_s` seconds, each later wait
    `backoff_factor` times the one before (a whole number: Argo reads it as one).
    `max_duration_h` is the spec's backoff_max_duration. On open-source KFP, Argo counts it
    from the start of the first try: no retry starts after it and a retry still running then
    is stopped, so it must cover every try of the task. Vertex AI documents it as the longest
    wait between tries.
    """

    tasks: Sequence[str] = (nodes.TRAINER,)
    max_retries: int = 2
    backoff_s: int = 60
    backoff_factor: int = 2
    max_duration_h: float = 48.0

    def validate(self) -> None:
        known = (*nodes.NODE_IDS, nodes.TUNER)
        require(
            set(self.tasks) <= set(known),
            "kubeflow.retries.tasks",
            f"node ids among {', '.join(known)}",
            list(self.tasks),
        )
        for name, least in (("max_retries", 0), ("backoff_s", 0), ("backoff_factor", 1)):
            value = getattr(self, name)
            require(value >= least, f"kubeflow.retries.{name}", f"{least} or more", value)
        require(
            self.max_duration_s > self.backoff_s,
            "kubeflow.retries.max_duration_h",
            f"longer than backoff_s ({self.backoff_s} s): Argo starts no retry whose wait ends "
            "after it",
            self.max_duration_h,
        )

    @property
    def max_duration_s(self) -> int:
        """`max_duration_h` in whole seconds, as the spec's Duration and Argo take it."""
        return round(self.max_duration_h * 3600)


@dataclasses.dataclass(frozen=True)
class KubeflowConfig:
    """How `compile`, `submit` and `schedule` reach Kubeflow Pipelines (KFP v2).

    `backend` is `kfp` (open-source Kubeflow Pipelines: the spec runs every task through
    pipeline/kubeflow/entrypoint.py, which mends what its launcher hands TFX; submitted with the
    `kfp` client) or `vertex` (Vertex AI Pipelines: TFX's entrypoint as compiled; submitted
    as a PipelineJob in `project` and `region`).
    `image` is the pipeline image built from the Dockerfile; every component runs in it.
    `pipeline_root` is where KFP keeps the artifacts (empty: `<output_dir>/pipeline_root`).
    `endpoint` is the KFP API (`KFP_ENDPOINT` in the environment wins); the bearer token comes
    from `KFP_TOKEN` or from `token_file` (e.g. a mounted service-account token), never from
    this file; `namespace` and `experiment` are KFP's. On Vertex, credentials are Google's
    application default credentials and `experiment` is a Vertex AI experiment (optional).
    `schedule` is a six-field cron expression, seconds first (`0 0 2 * * *` is 02:00 every
    day; Vertex takes whole minutes, so its seconds must be 0). `service_account` is the
    runs' Kubernetes or Google service account. `retries` says which tasks run again when
    their pod fails (`RetriesConfig`).
    """

    backend: str = "kfp"
    image: str = ""
    pipeline_root: str = ""
    endpoint: str = ""
    token_file: str = ""
    namespace: str = ""
    experiment: str = "Default"
    schedule: str = "0 0 2 * * *"
    service_account: str = ""
    project: str = ""
    region: str = "us-central1"
    retries: RetriesConfig = dataclasses.field(default_factory=RetriesConfig)

    def validate(self) -> None:
        require(
            self.backend in KUBEFLOW_BACKENDS,
            "kubeflow.backend",
            f"one of {', '.join(KUBEFLOW_BACKENDS)}",
            self.backend,
        )
        require(
            len(self.schedule.split()) == 6,
            "kubeflow.schedule",
            "six cron fields, seconds first (e.g. '0 0 2 * * *')",
            self.schedule,
        )
        require(
            self.backend != "vertex" or self.schedule.split()[0] == "0",
            "kubeflow.schedule",
            "a seconds field of 0 (Vertex AI schedules whole minutes)",
            self.schedule,
        )
        self.retries.validate()


@dataclasses.dataclass(frozen=True)
class ModelCardConfig:
    """What the model card (components/evaluation_report/model_card.py) cannot learn from
    the run: what the model is for (empty: said from its classes) and the limitations known
    beyond those the run shows (no "unknown" class, the eval split's source, the input size,
    the weakest classes are always listed)."""

    intended_use: str = ""
    limitations: Sequence[str] = ()

    def validate(self) -> None:
        require(
            all(text.strip() for text in self.limitations),
            "model_card.limitations",
            "sentences, none empty",
            list(self.limitations),
        )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline.

    Everything a run writes goes under `output_dir`: the pipeline root (artifacts), the ML
    Metadata database and the pushed models. `schema_file` is the curated schema the data is
    validated against: `image-pipeline init` writes one for a folder of images, next to the
    config it writes (there is no default: a schema is about one dataset). `components`
    holds per-component settings keyed by node id, and `kubeflow` what the compile, submit
    and schedule commands need.
    """

    pipeline_name: str = "image-pipeline"
    output_dir: str = "runs/image-pipeline"
    schema_file: str = ""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)
    preprocessing: PreprocessingConfig = dataclasses.field(default_factory=PreprocessingConfig)
    augmentation: AugmentationConfig = dataclasses.field(default_factory=AugmentationConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    tflite: TfliteConfig = dataclasses.field(default_factory=TfliteConfig)
    model_card: ModelCardConfig = dataclasses.field(default_factory=ModelCardConfig)
    beam_pipeline_args: Sequence[str] = (
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    )
    components: Mapping[str, ComponentConfig] = dataclasses.field(default_factory=dict)
    kubeflow: KubeflowConfig = dataclasses.field(default_factory=KubeflowConfig)

    def validate(self) -> None:
        require(bool(self.pipeline_name), "pipeline_name", "a name", self.pipeline_name)
        for section in (
            self.data,
            self.validation,
            self.preprocessing,
            self.augmentation,
            self.trainer,
            self.evaluation,
            self.serving,
            self.tflite,
            self.model_card,
            self.kubeflow,
        ):
            section.validate()
        require(
            self.serving.max_pixels >= self.data.max_pixels,
            "serving.max_pixels",
            f"at least data.max_pixels ({self.data.max_pixels}): the model must serve every "
            "image it can be trained and evaluated on",
            self.serving.max_pixels,
        )
        for name, component in self.components.items():
            component.resources.validate(f"components.{name}.resources")
        require(
            bool(self.trainer.candidates) or not self.trainer.selection.bounded,
            "trainer.selection",
            "no bounds unless trainer.backbone lists candidates to choose among",
            dataclasses.asdict(self.trainer.selection),
        )
        native = {name: BACKBONES[name].native_size for name in self.trainer.candidates}
        require(
            bool(self.preprocessing.image_size) or len(set(native.values())) <= 1,
            "preprocessing.image_size",
            "a size when the candidates in trainer.backbone have different native sizes "
            f"({', '.join(f'{name} {size}' for name, size in native.items())}): they are "
            "compared on the same images",
            self.preprocessing.image_size,
        )
        require(
            not self.trainer.warm_start or self.evaluation.baseline == "latest_blessed",
            "trainer.warm_start",
            "false when evaluation.baseline is none (warm start starts from the latest "
            "blessed model, which the baseline node finds)",
            self.trainer.warm_start,
        )

    @property
    def image_size(self) -> int:
        """The model's input side: configured, or the backbone's native size (the candidates'
        own, when they share one)."""
        return self.preprocessing.image_size or BACKBONES[self.trainer.backbones[0]].native_size

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def kubeflow_pipeline_root(self) -> str:
        """Where Kubeflow keeps the artifacts: `kubeflow.pipeline_root`, or the pipeline root."""
        return self.kubeflow.pipeline_root or self.pipeline_root

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.output_dir, "serving", self.serving.model_name)

    @property
    def tflite_dir(self) -> str:
        return os.path.join(self.output_dir, "tflite", self.serving.model_name)


def is_uri(path: str) -> bool:
    """True for gs://, s3://, hdfs:// and other paths a remote cluster reads."""
    return "://" in path
