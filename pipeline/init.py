"""`image-pipeline init`: a config and a curated schema proposed from a folder of images.

A first run must not stop on a schema written for other data, and nobody should have to
find SchemaGen's output by execution id and edit it by hand. `init` looks at the folder the
way a run will: it runs the DAG's first nodes (ImageExampleGen, StatisticsGen, SchemaGen:
`create_discovery_pipeline`) with LocalDagRunner into the new config's output_dir and ML
Metadata, where the first run finds those executions in its cache. Nothing is trained,
blessed or pushed. From what they found it writes, next to each other:

- `configs/NAME.yaml`: configs/template.yaml, every key, with what was chosen for this data
  (the data root, the image size, the weights, the skew limits an eval split of this size
  needs) commented with the reason;
- `configs/NAME.schema.pbtxt`: SchemaGen's inference curated as the gate needs it: the
  label domain exactly the classes found, the formats found, height and width from
  `data.min_side` to the largest found, an image domain, every feature present in every
  example (SchemaGen would also have listed every file name and hash as a domain).

Before writing, the proposal is checked with the gate's own code (TFDV's validation and
`gate.skew_findings`) against the statistics just computed, so the first run passes the
gate on this data. `--update-schema` widens an existing schema to accept what the data
holds now (new classes, formats, larger or smaller images) and says what it added.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
import os
import re
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import tensorflow_data_validation as tfdv
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.evaluation_report import results
from components.image_example_gen import executor as example_gen
from components.image_example_gen import rows, sizes
from components.validation_gate import gate
from pipeline import config as config_lib
from pipeline import config_loader, local_runner, metadata, nodes, summary
from trainer import backbones, features
from trainer.backbones import BACKBONES

TEMPLATE = Path(__file__).resolve().parents[1] / "configs" / "template.yaml"
SCHEMA_SUFFIX = ".schema.pbtxt"

FROM_SCRATCH = {"trainer.learning_rate": 0.002, "trainer.warmup_epochs": 1}
"""Training from random initialisation (configs/demo.yaml's recipe, 0.99 on the digits): a
higher rate than fine-tuning, a one-epoch warm-up, and the epochs `FROM_SCRATCH_STEPS` take."""

FROM_SCRATCH_STEPS = 900
"""Optimizer steps a backbone trained from random initialisation needs: the digits demo's
20 epochs of 45 batches. Measured on 146 training images of drawn shapes: 100 steps left
eval accuracy at 0.44, 500 reached 0.91."""

STRING_DOMAINS = (features.LABEL_KEY, features.FORMAT_KEY)
SIZE_FEATURES = (features.HEIGHT_KEY, features.WIDTH_KEY)
CONTRACT = (
    features.IMAGE_KEY,
    *STRING_DOMAINS,
    *SIZE_FEATURES,
    features.SOURCE_KEY,
    features.SHA256_KEY,
)

_SKEW_STANDARD_ERRORS = 3
_COMMENT_COLUMN = 38
_WIDTH = 92


@dataclasses.dataclass(frozen=True)
class Discovery:
    """What the DAG's first nodes found: ingestion's counts, each split's statistics, and
    SchemaGen's inferred schema."""

    ingestion: Dict[str, Any]
    report_dir: str
    statistics: Dict[str, statistics_pb2.DatasetFeatureStatisticsList]
    inferred: schema_pb2.Schema

    @property
    def classes(self) -> Dict[str, int]:
        """Examples per class, for the classes that gave at least one."""
        return {label: n for label, n in self.ingestion["examples_per_class"].items() if n}

    @property
    def examples_per_split(self) -> Dict[str, int]:
        return {split: s.datasets[0].num_examples for split, s in self.statistics.items()}

    def formats(self) -> Dict[str, int]:
        """Examples per original format, over every split."""
        counts: Dict[str, int] = {}
        for feature in self._features(features.FORMAT_KEY):
            for bucket in feature.string_stats.rank_histogram.buckets:
                counts[bucket.label] = counts.get(bucket.label, 0) + round(bucket.sample_count)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def size_range(self, key: str) -> Tuple[int, int]:
        """The smallest and largest value of `height` or `width`, over every split."""
        stats = [feature.num_stats for feature in self._features(key)]
        return round(min(s.min for s in stats)), round(max(s.max for s in stats))

    def _features(self, key: str) -> List[statistics_pb2.FeatureNameStatistics]:
        return [
            tfdv.get_feature_stats(self.statistics[split].datasets[0], tfdv.FeaturePath([key]))
            for split in sorted(self.statistics)
        ]

    def found_text(self) -> List[str]:
        """What was found, one aspect a line, as `init` prints it."""
        ingestion = self.ingestion
        return [
            "  classes          " + ", ".join(f"{c} {n}" for c, n in self.classes.items()),
            "  formats          " + ", ".join(f"{f} {n}" for f, n in self.formats().items()),
            *summary.sizes_lines(ingestion["shorter_side_per_class"]),
            summary.files_line(
                ingestion["files_seen"],
                ingestion["quarantined"],
                ingestion["reasons"],
                ingestion["ignored"],
                ingestion["duplicates"],
                self.report_dir,
            ),
        ]


@dataclasses.dataclass(frozen=True)
class Choice:
    """A config value chosen for the data, and why (the comment it gets in the file)."""

    key: str
    value: Any
    why: str


def proposed_config(
    data_dir: str, config_path: Path, overrides: Sequence[str]
) -> Tuple[config_lib.PipelineConfig, Dict[str, Any]]:
    """The template with the names derived from the config file's name and the data root,
    then the user's `--set` overrides: what discovery runs with and the file will hold.

    Returns the validated config and the values (dotted key -> value) to write over the
    template's.
    """
    if config_path.suffix not in (".yaml", ".yml"):
        raise config_lib.ConfigError(f"{config_path}: expected a .yaml file name for the config")
    name = re.sub(r"[^a-z0-9-]+", "-", config_path.stem.lower()).strip("-") or "images"
    values: Dict[str, Any] = {
        "pipeline_name": name,
        "output_dir": os.path.join("runs", name),
        "schema_file": str(schema_path(config_path)),
        "data.root": data_dir,
        "serving.model_name": name.replace("-", "_"),
    }
    values.update(config_loader.parse_override(override) for override in overrides)
    return _config(values), values


def schema_path(config_path: Path) -> Path:
    """`configs/NAME.yaml` -> `configs/NAME.schema.pbtxt`."""
    return config_path.with_name(config_path.stem + SCHEMA_SUFFIX)


def _config(values: Mapping[str, Any]) -> config_lib.PipelineConfig:
    raw = yaml.safe_load(TEMPLATE.read_text())
    for key, value in values.items():
        config_loader.set_value(raw, key, value)
    try:
        return config_loader.absolute_paths(config_loader.config_from_dict(raw))
    except config_lib.ConfigError as error:
        raise config_lib.ConfigError(f"init: {error}") from None


def discover(config: config_lib.PipelineConfig) -> Discovery:
    """Runs ingestion, statistics and SchemaGen (cached when they ran on this data before)."""
    run_id = local_runner.discover(config)
    store = metadata.open_store(config.metadata_path)
    node_runs = metadata.node_runs(store, config.pipeline_name, run_id)
    examples = node_runs[nodes.EXAMPLE_GEN].output("examples")
    statistics = node_runs[nodes.STATISTICS_GEN].output("statistics")
    schema = node_runs[nodes.SCHEMA_GEN].output("schema")
    discovery = Discovery(
        ingestion=example_gen.read_counts(examples.uri),
        report_dir=os.path.join(examples.uri, example_gen.REPORT_DIR),
        statistics={
            split: results.load_statistics(statistics.uri, split)
            for split in metadata.split_names(statistics)
        },
        inferred=tfdv.load_schema_text(os.path.join(schema.uri, "schema.pbtxt")),
    )
    if len(discovery.classes) < 2:
        raise rows.IngestError(
            f"{discovery.report_dir}: {len(discovery.classes)} class(es) gave examples "
            f"({', '.join(discovery.classes) or 'none'}); a classifier needs at least two"
        )
    return discovery


def curated_schema(discovery: Discovery, min_side: int) -> schema_pb2.Schema:
    """SchemaGen's inference, curated: the domains the gate needs, and nothing per file."""
    schema = copy.deepcopy(discovery.inferred)
    del schema.string_domain[:]
    by_name = {feature.name: feature for feature in schema.feature}
    missing = set(CONTRACT) - set(by_name)
    if missing:
        raise RuntimeError(f"SchemaGen inferred no {', '.join(sorted(missing))} feature")
    for feature in schema.feature:
        feature.ClearField("domain_info")
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
    by_name[features.IMAGE_KEY].image_domain.SetInParent()
    found = {
        features.LABEL_KEY: list(discovery.classes),
        features.FORMAT_KEY: sorted(discovery.formats()),
    }
    for key in STRING_DOMAINS:
        by_name[key].domain = key
        schema.string_domain.add(name=key, value=found[key])
    for key in SIZE_FEATURES:
        by_name[key].int_domain.min = min_side
        by_name[key].int_domain.max = discovery.size_range(key)[1]
    return schema


def widened_schema(
    schema: schema_pb2.Schema, found: schema_pb2.Schema
) -> Tuple[schema_pb2.Schema, List[str]]:
    """`schema` accepting what `found` (a curated schema of the data now) accepts too: new
    label and format values, and height and width bounds stretched. Returns the schema and
    one line per change; everything else in `schema` (hand edits included) is kept."""
    widened = copy.deepcopy(schema)
    changes = []
    for key in STRING_DOMAINS:
        domain = _string_domain(widened, key)
        if domain is None:
            continue
        new = [value for value in _string_domain(found, key).value if value not in domain.value]
        if new:
            domain.value.extend(new)
            changes.append(f"{key}: added {', '.join(new)}")
    for key in SIZE_FEATURES:
        feature = tfdv.get_feature(widened, key)
        if feature.WhichOneof("domain_info") != "int_domain":
            continue
        bounds = feature.int_domain
        wanted = tfdv.get_feature(found, key).int_domain
        if wanted.min < bounds.min:
            changes.append(f"{key}: min {bounds.min} -> {wanted.min}")
            bounds.min = wanted.min
        if wanted.max > bounds.max:
            changes.append(f"{key}: max {bounds.max} -> {wanted.max}")
            bounds.max = wanted.max
    return widened, changes


def _string_domain(schema: schema_pb2.Schema, key: str) -> schema_pb2.StringDomain | None:
    """The string domain of feature `key`: its own, or the schema-level one it names."""
    feature = tfdv.get_feature(schema, key)
    if feature.WhichOneof("domain_info") == "string_domain":
        return feature.string_domain
    if feature.WhichOneof("domain_info") == "domain":
        for domain in schema.string_domain:
            if domain.name == feature.domain:
                return domain
    return None


def schema_text(schema: schema_pb2.Schema, header: Sequence[str]) -> str:
    return "".join(
        f"# {line}\n" if line else "#\n" for line in header
    ) + text_format.MessageToString(schema)


def gate_findings(
    discovery: Discovery, schema: schema_pb2.Schema, max_skew: Mapping[str, float]
) -> List[gate.Finding]:
    """What the validation gate would find in this data with this schema and skew limits:
    ExampleValidator's check (TFDV) and the gate's skew check, on the statistics found."""
    anomalies = {
        split: tfdv.validate_statistics(statistics, schema)
        for split, statistics in discovery.statistics.items()
    }
    return gate.schema_findings(anomalies, schema) + gate.skew_findings(
        discovery.statistics, schema, max_skew
    )


def choices(
    config: config_lib.PipelineConfig, discovery: Discovery, fixed: Sequence[str]
) -> List[Choice]:
    """The values chosen for this data, each with its reason; keys in `fixed` (set on the
    command line) are left as they were set."""
    chosen = [
        *_image_size(config, discovery),
        Choice(
            "augmentation.flip",
            config.augmentation.flip,
            "photos: a mirrored cat is still a cat. Set none where mirroring changes the class "
            "(text, digits, arrows, left and right)",
        ),
        *_weights(config, discovery, "trainer.weights" in fixed),
        *_skew_limits(config, discovery),
    ]
    return [choice for choice in chosen if choice.key not in fixed]


def _image_size(config: config_lib.PipelineConfig, discovery: Discovery) -> List[Choice]:
    native = BACKBONES[config.trainer.backbones[0]].native_size
    shorter = discovery.ingestion["shorter_side"]
    typical = shorter["median"]
    median = f"the images' shorter side is {sizes.as_text(shorter)}"
    if typical >= native:
        return [
            Choice(
                "preprocessing.image_size",
                0,
                f"{median}: {config.trainer.backbones[0]}'s native {native} px keeps its detail",
            )
        ]
    size = min(native, max(32, math.ceil(typical / 32) * 32))
    return [
        Choice(
            "preprocessing.image_size",
            size,
            f"{median}: {size} px keeps the median image's detail; {config.trainer.backbones[0]}'s "
            f"native {native} would cost {native**2 / size**2:.1f}x the compute for no more",
        )
    ]


def _epochs_from_scratch(config: config_lib.PipelineConfig, discovery: Discovery) -> Choice:
    """Enough epochs for `FROM_SCRATCH_STEPS` batches of the training split (at least 20)."""
    train = discovery.examples_per_split["train"]
    steps = math.ceil(train / config.trainer.batch_size)
    epochs = max(20, math.ceil(FROM_SCRATCH_STEPS / steps))
    return Choice(
        "trainer.epochs",
        epochs,
        f"from random initialisation a model needs about {FROM_SCRATCH_STEPS} steps: "
        f"{train} training images make {steps} batches of {config.trainer.batch_size} an epoch",
    )


def _weights(config: config_lib.PipelineConfig, discovery: Discovery, given: bool) -> List[Choice]:
    """ImageNet weights when Keras has them or can fetch them; else random initialisation
    with the from-scratch recipe, and what to do to use ImageNet weights. With the weights
    `given` on the command line, only the recipe follows them."""
    recipe = "training from random initialisation: a higher rate, a warm-up"
    from_scratch = [Choice(key, value, recipe) for key, value in FROM_SCRATCH.items()]
    from_scratch.append(_epochs_from_scratch(config, discovery))
    if given:
        return [] if config.trainer.pretrained else from_scratch
    backbone = BACKBONES[config.trainer.backbones[0]]
    if not backbone.has_imagenet_weights:
        why = f"{backbone.constructor} has no ImageNet weights: it trains from scratch"
        return [Choice("trainer.weights", "none", why), *from_scratch]
    filename, url = backbone.imagenet_weights_file(config.image_size)
    cached = backbones.keras_cache_path(filename)
    if os.path.isfile(cached):
        return [Choice("trainer.weights", "imagenet", f"ImageNet weights found in {cached}")]
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10).close()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        why = (
            f"offline: {url} cannot be reached ({reason}); to fine-tune ImageNet weights, copy "
            f"that file to {cached} and set weights: imagenet"
        )
        return [Choice("trainer.weights", "none", why), *from_scratch]
    return [
        Choice(
            "trainer.weights",
            "imagenet",
            f"Keras downloads {filename} on the first run; weights: none trains from scratch "
            "offline",
        )
    ]


def _skew_limits(config: config_lib.PipelineConfig, discovery: Discovery) -> List[Choice]:
    """`validation.max_skew` no tighter than chance allows for splits of this size.

    The hash split is random: with n_train and n_eval examples, a value's share differs
    between the splits by chance with a standard error up to 0.5 * sqrt(1/n_train +
    1/n_eval). A limit under three of those stops a small dataset's first run on noise.
    """
    counts = discovery.examples_per_split
    chance = _SKEW_STANDARD_ERRORS * 0.5 * math.sqrt(sum(1 / max(1, n) for n in counts.values()))
    needed = min(1.0, math.ceil(chance * 20) / 20)
    limits = dict(config.validation.max_skew)
    raised = {feature: needed for feature, limit in limits.items() if limit < needed}
    if not raised:
        return []
    splits = " and ".join(f"{n} {split}" for split, n in counts.items())
    return [
        Choice(
            "validation.max_skew",
            {**limits, **raised},
            f"with {splits} examples, shares differ by chance up to {chance:.2f}",
        )
    ]


def config_text(values: Mapping[str, Any], chosen: Sequence[Choice], header: Sequence[str]) -> str:
    """configs/template.yaml with `values` (names, data root, overrides) and the `chosen`
    values (commented with why) written over its own, and `header` as the opening comment."""
    lines = TEMPLATE.read_text().splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    text = (
        "\n".join(f"# {line}" if line else "#" for line in header) + "\n" + "\n".join(lines) + "\n"
    )
    for key, value in values.items():
        text = set_key(text, key, value)
    for choice in chosen:
        text = set_key(text, choice.key, choice.value, choice.why)
    return text


_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


def set_key(text: str, key: str, value: Any, why: str = "") -> str:
    """`text` (YAML with comments) with the dotted `key` set to `value` in flow style.

    The key's line keeps its comment; `why` goes in comment lines above it. A block value
    under the key (a list or mapping on the following, deeper lines) is replaced. Raises
    KeyError when the text has no such key.
    """
    lines = text.split("\n")
    path: List[Tuple[int, str]] = []
    for index, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        path = [(depth, name) for depth, name in path if depth < indent] + [(indent, match["key"])]
        if ".".join(name for _, name in path) != key:
            continue
        stated, _, comment = match["rest"].partition(" #")
        end = index + 1
        if not stated.strip():
            while end < len(lines) and (
                lines[end].startswith(" " * (indent + 1)) or not lines[end].strip()
            ):
                end += 1
            while end > index + 1 and not lines[end - 1].strip():
                end -= 1
        new = f"{' ' * indent}{match['key']}: {_flow(value)}"
        if comment.strip():
            new = f"{new.ljust(_COMMENT_COLUMN - 1)} # {comment.strip()}"
        above = textwrap.wrap(
            why, _WIDTH, initial_indent=" " * indent + "# ", subsequent_indent=" " * indent + "# "
        )
        return "\n".join(lines[:index] + above + [new] + lines[end:])
    raise KeyError(f"no key {key} in the config text")


def command_name() -> str:
    """How the user called us, for the command to run next (`.venv/bin/image-pipeline`)."""
    called = sys.argv[0]
    return called if os.path.basename(called) == "image-pipeline" else "image-pipeline"


def today() -> str:
    return datetime.date.today().isoformat()


def write_proposal(
    config_path: Path, values: Mapping[str, Any], discovery: Discovery
) -> Tuple[List[str], List[gate.Finding]]:
    """Writes the config and its schema; returns the lines to print and what the gate would
    still find (nothing, unless the data holds what no choice here can fix)."""
    config = _config(values)
    chosen = choices(config, discovery, fixed=list(values))
    final = _config({**values, **{choice.key: choice.value for choice in chosen}})
    schema = curated_schema(discovery, final.data.min_side)
    findings = gate_findings(discovery, schema, final.validation.max_skew)
    schema_file = schema_path(config_path)
    classes = ", ".join(f"{label} {n}" for label, n in discovery.classes.items())
    formats = ", ".join(f"{name} {n}" for name, n in discovery.formats().items())
    header = [
        f"Written by `image-pipeline init` on {today()} from {values['data.root']}",
        f"({sum(discovery.classes.values())} images in {len(discovery.classes)} classes: "
        f"{classes}; formats {formats}).",
        "Every key is listed. The values chosen for this data say why in their comments; the",
        "rest are configs/template.yaml's (pipeline/config.py documents each key).",
        f"The curated schema is {schema_file}; accept what new data brings with",
        f"  {gate.ACCEPT_COMMAND.format(config=config_path)}",
    ]
    config_path.parent.mkdir(parents=True, exist_ok=True)
    schema_file.write_text(
        schema_text(schema, _schema_header(values["data.root"], final, config_path))
    )
    config_path.write_text(config_text(values, chosen, header))
    written = config_loader.load_config(config_path)
    if written != final:
        raise RuntimeError(f"{config_path}: init wrote a config that reads differently; a bug")
    reasons: Dict[str, List[Choice]] = {}
    for choice in chosen:
        reasons.setdefault(choice.why, []).append(choice)
    lines = ["Chose:"] + [
        "  " + ", ".join(f"{c.key} {_flow(c.value)}" for c in group) + f": {why}"
        for why, group in reasons.items()
    ]
    lines.append(
        f"Wrote {config_path} (every key; the choices above commented) and {schema_file} "
        f"({_schema_text_summary(schema)})."
    )
    return lines + _verdict(findings, f"{command_name()} run --config {config_path}"), findings


def update_schema(
    config: config_lib.PipelineConfig, discovery: Discovery, config_path: str
) -> Tuple[List[str], List[gate.Finding]]:
    """Widens the config's schema to accept the data as it is now (or writes it when it is
    missing); returns the lines to print and what the gate would still find."""
    found = curated_schema(discovery, config.data.min_side)
    path = Path(config.schema_file)
    if path.is_file():
        text = path.read_text()
        header = [
            line[2:] if line.startswith("# ") else line[1:]
            for line in text.splitlines()
            if line.startswith("#")
        ]
        schema, changes = widened_schema(tfdv.load_schema_text(str(path)), found)
        if changes:
            header.append(f"Widened by `init --update-schema` on {today()}: {'; '.join(changes)}")
    else:
        schema = found
        header = _schema_header(config.data.root, config, config_path)
        changes = [f"{path} was missing: written from the data"]
    findings = gate_findings(discovery, schema, config.validation.max_skew)
    if changes:
        path.write_text(schema_text(schema, header))
        lines = [f"Updated {path}:"] + [f"  {change}" for change in changes]
    else:
        lines = [f"{path} accepts this data already; nothing changed."]
    return lines + _verdict(findings, f"{command_name()} run --config {config_path}"), findings


def _schema_header(
    data_root: str, config: config_lib.PipelineConfig, config_path: Any
) -> List[str]:
    return [
        f"Curated schema for the images in {data_root}, written by `image-pipeline init`",
        f"on {today()} from what ingestion, StatisticsGen and SchemaGen found. ExampleValidator",
        "checks every split against it and the ValidationGate stops the run on what it finds;",
        "Transform reads the feature shapes from it. Review it like code:",
        "- label: the classes found; a new class stops the run until it is added here;",
        "- format: the original formats found;",
        f"- height, width: from data.min_side ({config.data.min_side}) to the largest found;",
        "- image: an encoded image; every feature is present in every example.",
        "To accept what new data brings (classes, formats, sizes), after reviewing it:",
        f"  {gate.ACCEPT_COMMAND.format(config=config_path)}",
    ]


def _schema_text_summary(schema: schema_pb2.Schema) -> str:
    parts = [f"{key}: {', '.join(_string_domain(schema, key).value)}" for key in STRING_DOMAINS]
    for key in SIZE_FEATURES:
        bounds = tfdv.get_feature(schema, key).int_domain
        parts.append(f"{key} {bounds.min}-{bounds.max}")
    return "; ".join(parts)


def _verdict(findings: Sequence[gate.Finding], next_command: str) -> List[str]:
    if findings:
        return [
            "The validation gate would still stop a run on this data:",
            *(f"  - {finding.as_text()}" for finding in findings),
        ]
    return [
        "The validation gate passes this data (checked on these statistics). Next:",
        f"  {next_command}",
    ]


def _flow(value: Any) -> str:
    return yaml.safe_dump([value], default_flow_style=True, width=10**6).strip()[1:-1]
