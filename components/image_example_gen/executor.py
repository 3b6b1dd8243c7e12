"""ImageExampleGen's executor: lists the input, reads images in Beam, dedups, writes the report.

TFX's span resolution hands us the resolved input pattern and its hash split assigns the
splits. This executor adds what a folder of real files needs: a listing (class folders or a
manifest: `listing.py`); a first Beam pass that reads, hashes and checks the header of each
file (`reading.py`); a GroupByKey of the hashes that keeps one copy of each image and keeps
label conflicts out; a second pass that reads the kept files into examples (the full decode
checks and any re-encoding); and an ingestion report stored inside the Examples artifact
(`ingestion/`: a file of report rows per outcome, `rows.py`, and `counts.json`), whose
counts are set on the artifact in ML Metadata and must reconcile. Image bytes are
never shuffled: only hashes and paths are, so the work per image stays on the worker that
writes it. The splits are written here (`records.py`): GZIP TFRecords, as TFX's readers
expect, with the image bytes stored rather than compressed a second time.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import posixpath
from typing import Any, Callable, Dict, List, Tuple

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.image_example_gen import reading, records, sizes
from components.image_example_gen.listing import list_input
from components.image_example_gen.rows import DUPLICATE, EMPTY_CLASS, IngestError, ReportRow

REPORT_DIR = "ingestion"
QUARANTINE_FILE = "quarantine.jsonl"
IGNORED_FILE = "ignored.jsonl"
DUPLICATES_FILE = "duplicates.jsonl"
EMPTY_CLASSES_FILE = "empty_classes.jsonl"
COUNTS_FILE = "counts.json"

MIN_SIDE_KEY = "min_side"
MAX_PIXELS_KEY = "max_pixels"
MAX_QUARANTINE_FRACTION_KEY = "max_quarantine_fraction"
MIN_IMAGES_PER_CLASS_KEY = "min_images_per_class"

COUNT_KEYS = ("files_seen", "examples", "quarantined", "ignored", "duplicates")

_REPORT_DIR_PROPERTY = "_ingestion_report_dir"
_ROWS = "rows"


def input_location(input_base: str, pattern: str) -> Tuple[str, str]:
    """(folder, manifest file name or '') for a resolved input pattern.

    The pattern is `*` (class folders under input_base), `<manifest>`, or either of them
    under a span folder, such as `span-3/*` once TFX has resolved `span-{SPAN}/*`.
    """
    folder, name = posixpath.split(pattern)
    return os.path.join(input_base, folder), "" if name == "*" else name


class _RowsApart(beam.DoFn):
    """Applies one step of `reading` to each element; report rows go to a tagged output."""

    def __init__(self, step: Callable[[Any], Any]):
        self._step = step

    def process(self, element):
        result = self._step(element)
        yield beam.pvalue.TaggedOutput(_ROWS, result) if isinstance(result, ReportRow) else result


class _Deduplicate(beam.DoFn):
    """One sha256 group: the copy kept, then duplicates and label conflicts as report rows."""

    def process(self, keyed: Tuple[str, List[reading.Identified]]):
        kept, rows = reading.deduplicate(list(keyed[1]))
        if kept is not None:
            yield kept
        for row in rows:
            yield beam.pvalue.TaggedOutput(_ROWS, row)


@dataclasses.dataclass(frozen=True)
class _Settled:
    """What the listing settled before any file was read, and what it saw."""

    rows: List[ReportRow]
    files_seen: int
    classes: List[str]
    all_classes: List[str]


def write_report(
    rows: List[ReportRow],
    size_counts: List[Tuple[Tuple[str, int], int]],
    settled: _Settled,
    report_dir: str,
) -> None:
    """Writes quarantine, ignored and duplicates rows (sorted by path), the class
    folders that gave no example, and the counts.

    `size_counts` holds `((class, shorter side), examples)` for every example written: the
    examples, their classes and the size distribution per class all come from it.
    One step at the end of the pipeline: rows are few next to the examples (one per
    problem file), and a single writer keeps the Beam graph, and its fixed cost, small.
    """
    per_class = collections.Counter()
    for (label, _), count in size_counts:
        per_class[label] += count
    files = {QUARANTINE_FILE: [], IGNORED_FILE: [], DUPLICATES_FILE: []}
    for row in sorted(settled.rows + rows, key=lambda r: (r.path, r.reason)):
        if row.reason == DUPLICATE:
            files[DUPLICATES_FILE].append(row)
        else:
            files[IGNORED_FILE if row.ignored else QUARANTINE_FILE].append(row)
    examples_per_class = {label: per_class.get(label, 0) for label in settled.all_classes}
    empty = [label for label, count in examples_per_class.items() if count == 0]
    files[EMPTY_CLASSES_FILE] = [
        ReportRow(f"{label}/", EMPTY_CLASS, "no file in it became an example") for label in empty
    ]
    tf.io.gfile.makedirs(report_dir)
    for filename, lines in files.items():
        with tf.io.gfile.GFile(os.path.join(report_dir, filename), "w") as handle:
            handle.write("".join(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in lines))
    quarantined = files[QUARANTINE_FILE]
    counts = {
        "files_seen": settled.files_seen,
        "examples": sum(per_class.values()),
        "quarantined": len(quarantined),
        "ignored": len(files[IGNORED_FILE]),
        "duplicates": len(files[DUPLICATES_FILE]),
        "reasons": dict(sorted(collections.Counter(r.reason for r in quarantined).items())),
        "classes": settled.classes,
        "examples_per_class": examples_per_class,
        "empty_classes": empty,
        "shorter_side": sizes.overall(size_counts) if size_counts else None,
        "shorter_side_per_class": sizes.per_class(size_counts),
    }
    with tf.io.gfile.GFile(os.path.join(report_dir, COUNTS_FILE), "w") as handle:
        handle.write(json.dumps(counts, ensure_ascii=False))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(reading.Ingested)
def ImagesToExample(  # noqa: N802 - Beam's naming convention for PTransforms
    pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Reads the input named by `split_pattern` into deduplicated `reading.Ingested` images."""
    folder, manifest = input_location(
        exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern
    )
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
    )
    splits = [split.name for split in output_config.split_config.splits]
    listing = list_input(folder, manifest, splits)
    logging.info(
        "ImageExampleGen: %d files in %d classes from %s (%d settled while listing)",
        len(listing.files),
        len(listing.classes),
        os.path.normpath(os.path.join(folder, manifest)),
        len(listing.ignored) + len(listing.quarantined),
    )
    limits = reading.Limits(exec_properties[MIN_SIDE_KEY], exec_properties[MAX_PIXELS_KEY])
    # Two passes, so that only hashes and paths are shuffled, never image bytes: identify
    # every file (read, hash, header), keep one file per hash, then read the kept files
    # again (decode checks, re-encoding, the example) where the writer runs.
    identified = (
        pipeline
        | "ListFiles" >> beam.Create(listing.files, reshuffle=True)
        | "IdentifyFiles"
        >> beam.ParDo(_RowsApart(functools.partial(reading.identify, limits=limits))).with_outputs(
            _ROWS, main="files"
        )
    )
    unique = (
        identified.files
        | "KeyByContent" >> beam.Map(lambda file: (file.sha256, file))
        | "GroupByContent" >> beam.GroupByKey()
        | "Deduplicate" >> beam.ParDo(_Deduplicate()).with_outputs(_ROWS, main="kept")
    )
    read = unique.kept | "ReadFiles" >> beam.ParDo(
        _RowsApart(lambda file: reading.read_file(file.source, limits, file.sha256))
    ).with_outputs(_ROWS, main="images")
    settled = _Settled(
        listing.ignored + listing.quarantined,
        listing.files_seen,
        listing.classes,
        listing.all_classes,
    )
    _ = (
        (identified[_ROWS], unique[_ROWS], read[_ROWS])
        | "AllRows" >> beam.Flatten()
        | "CollectRows" >> beam.combiners.ToList()
        | "WriteReport"
        >> beam.Map(
            write_report,
            size_counts=beam.pvalue.AsList(
                read.images
                | "ClassAndSize" >> beam.Map(lambda image: (image.label, image.shorter_side))
                | "CountPerClassAndSize" >> beam.combiners.Count.PerElement()
            ),
            settled=settled,
            report_dir=exec_properties[_REPORT_DIR_PROPERTY],
        )
    )
    return read.images


def _split_index(
    image: reading.Ingested,
    num_partitions: int,
    names: List[str],
    buckets: List[int],
    split_config: example_gen_pb2.SplitConfig,
) -> int:
    """The manifest's split when it names one, else TFX's hash partition on `sha256`."""
    if image.split:
        return names.index(image.split)
    return base_example_gen_executor._PartitionFn(  # noqa: SLF001 - TFX's own hash split
        tf.train.Example.FromString(image.example), num_partitions, buckets, split_config
    )


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """FileBasedExampleGen executor for image folders and manifests, with an ingestion report."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 - TFX API
        """The PTransform to `reading.Ingested` images that GenerateExamplesByBeam splits."""
        return ImagesToExample

    def GenerateExamplesByBeam(  # noqa: N802 - TFX API
        self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
    ) -> Dict[str, beam.PCollection]:
        """Splits by content hash as TFX does, except where a manifest row names the split."""
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        split_config = output_config.split_config
        if len(input_config.splits) != 1 or not split_config.splits:
            raise ValueError(
                "ImageExampleGen: expected one input pattern and output splits by hash buckets "
                "(see pipeline/pipeline.py)"
            )
        names = [split.name for split in split_config.splits]
        buckets = [
            sum(s.hash_buckets for s in split_config.splits[: i + 1]) for i in range(len(names))
        ]
        images = pipeline | "InputToRecord" >> self.GetInputSourceToExamplePTransform()(
            exec_properties, input_config.splits[0].pattern
        )
        partitions = images | "SplitData" >> beam.Partition(
            _split_index, len(names), names, buckets, split_config
        )
        return {
            name: partitions[index] | f"ToExample[{name}]" >> beam.Map(lambda image: image.example)
            for index, name in enumerate(names)
        }

    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        """BaseExampleGenExecutor.Do with this component's record writer, then the report."""
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        report_dir = os.path.join(examples.uri, REPORT_DIR)
        with self._make_beam_pipeline() as pipeline:
            splits = self.GenerateExamplesByBeam(
                pipeline, {**exec_properties, _REPORT_DIR_PROPERTY: report_dir}
            )
            examples.split_names = artifact_utils.encode_split_names(list(splits))
            for name, split in splits.items():
                prefix = os.path.join(
                    artifact_utils.get_split_uri([examples], name), write_split.DEFAULT_FILE_NAME
                )
                _ = split | f"WriteSplit[{name}]" >> beam.io.Write(
                    records.StoredGzipTFRecordSink(prefix)
                )
        examples_utils.set_payload_format(
            examples, exec_properties[standard_component_specs.OUTPUT_DATA_FORMAT_KEY]
        )
        examples_utils.set_file_format(
            examples,
            write_split.to_file_format_str(
                exec_properties[standard_component_specs.OUTPUT_FILE_FORMAT_KEY]
            ),
        )
        # TFX 1.16's ExampleGen driver records span and version as custom properties only,
        # while StatisticsGen (which copies the span to its statistics) and the span
        # resolvers read the artifact properties: set those too, or every span reads as 0.
        # (On Kubeflow the driver's span arrives as a JSON number, 0.0: hence int().)
        examples.span = int(exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
        if exec_properties.get(example_gen_utils.VERSION_PROPERTY_NAME) is not None:
            examples.version = int(exec_properties[example_gen_utils.VERSION_PROPERTY_NAME])
        counts = read_counts(examples.uri)
        for key in COUNT_KEYS:
            examples.set_int_custom_property(key, counts[key])
        logging.info(
            "ImageExampleGen: %d files seen = %d examples + %d quarantined + %d ignored + "
            "%d duplicates dropped; report in %s",
            *(counts[key] for key in COUNT_KEYS),
            report_dir,
        )
        for reason, count in counts["reasons"].items():
            logging.info("ImageExampleGen: quarantined %d: %s", count, reason)
        for label in counts["empty_classes"]:
            logging.warning("ImageExampleGen: class folder %s/ gave no example", label)
        for line in sizes.shortcuts(counts["shorter_side_per_class"]):
            logging.warning("ImageExampleGen: %s", line)
        kept = rejected_report_dir(examples.uri)
        try:
            check_counts(
                counts,
                kept,
                exec_properties[MAX_QUARANTINE_FRACTION_KEY],
                exec_properties[MIN_IMAGES_PER_CLASS_KEY],
            )
        except (IngestError, RuntimeError):
            _copy_tree(report_dir, kept)
            raise


def rejected_report_dir(examples_uri: str) -> str:
    """Where a failed ingestion's report is kept: TFX deletes a failed execution's artifact.

    `<pipeline_root>/ImageExampleGen/examples/<id>` -> `<...>/ImageExampleGen/rejected/<id>`.
    """
    component_dir = os.path.dirname(os.path.dirname(examples_uri))
    return os.path.join(component_dir, "rejected", os.path.basename(examples_uri))


def _copy_tree(source: str, target: str) -> None:
    tf.io.gfile.makedirs(target)
    for name in tf.io.gfile.listdir(source):
        tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)


def check_counts(
    counts: Dict[str, Any],
    report_dir: str,
    max_quarantine_fraction: float,
    min_images_per_class: int,
) -> None:
    """Fails the run when the counts do not reconcile, too much was quarantined, or a class
    has fewer than `min_images_per_class` examples (0: no minimum).

    `report_dir` is where the messages send the reader: the report as it will be kept.
    """
    accounted = sum(counts[key] for key in COUNT_KEYS[1:])
    if accounted != counts["files_seen"]:
        raise RuntimeError(
            f"ImageExampleGen: counts do not reconcile in {report_dir}: "
            f"{counts['files_seen']} files seen but {accounted} accounted for"
        )
    candidates = counts["files_seen"] - counts["ignored"]
    fraction = counts["quarantined"] / candidates if candidates else 0.0
    if fraction > max_quarantine_fraction:
        reasons = ", ".join(f"{count} {reason}" for reason, count in counts["reasons"].items())
        raise IngestError(
            f"{os.path.join(report_dir, QUARANTINE_FILE)}: {counts['quarantined']} of "
            f"{candidates} files quarantined ({fraction:.0%}: {reasons}), over "
            f"data.max_quarantine_fraction={max_quarantine_fraction:g}; fix or remove those "
            "files, or raise the limit"
        )
    few = {
        label: count
        for label, count in counts["examples_per_class"].items()
        if count < min_images_per_class
    }
    if few:
        listed = ", ".join(f"{label}/ {count}" for label, count in few.items())
        raise IngestError(
            f"{report_dir}: classes with fewer than data.min_images_per_class="
            f"{min_images_per_class} images: {listed}; add images to those folders, remove "
            "them, or set data.min_images_per_class (0 reports empty class folders and goes on)"
        )


def read_counts(examples_uri: str) -> Dict[str, Any]:
    """The ingestion counts stored in an Examples artifact written by this executor.

    An artifact without them was written by an earlier ImageExampleGen (its counts were in
    `summary.json`) and reused from TFX's cache, which code changes do not invalidate: an
    `IngestError` says so and names the way out, rather than a missing-file traceback.
    """
    path = os.path.join(examples_uri, REPORT_DIR, COUNTS_FILE)
    if not tf.io.gfile.exists(path):
        raise IngestError(
            f"{path}: not found; these Examples were written by an earlier ImageExampleGen "
            "(reused from the cache of this output_dir): run with a new output_dir "
            "(--set output_dir=...) so that ingestion runs again"
        )
    with tf.io.gfile.GFile(path) as handle:
        return json.loads(handle.read())
