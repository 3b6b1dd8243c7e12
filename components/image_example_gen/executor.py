"""ImageExampleGen's executor: lists the tree, reads images in Beam, writes the report.

The base ExampleGen executor does the splitting (by the `sha256` feature, so identical
images share a split) and the TFRecord writing. This executor adds what a folder of real
files needs: a listing, a Beam stage that turns each file into an example or a quarantine
record, and an ingestion report stored inside the Examples artifact (`ingestion/`), whose
counts are also set on the artifact in ML Metadata and checked to reconcile.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import artifact_utils, standard_component_specs

from components.image_example_gen import ingest

REPORT_DIR = "ingestion"
QUARANTINE_FILE = "quarantine.jsonl"
IGNORED_FILE = "ignored.jsonl"
SUMMARY_FILE = "summary.json"

_REPORT_DIR_PROPERTY = "_ingestion_report_dir"
_QUARANTINED = "quarantined"


class _ReadImage(beam.DoFn):
    """Reads one file; quarantine records go to a tagged side output."""

    def process(self, source: ingest.SourceFile):
        result = ingest.read_example(source)
        if isinstance(result, ingest.Record):
            yield beam.pvalue.TaggedOutput(_QUARANTINED, result.as_dict())
        else:
            yield result


def _write_lines(records: beam.PCollection, path: str, label: str) -> None:
    _ = (
        records
        | f"{label}ToJson" >> beam.Map(lambda record: json.dumps(record, ensure_ascii=False))
        | f"Write{label}" >> beam.io.WriteToText(path, shard_name_template="", num_shards=1)
    )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def ImagesToExample(  # noqa: N802 - Beam's naming convention for PTransforms
    pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Reads the class-per-folder tree under `input_base` into tf.Examples."""
    del split_pattern  # the whole tree is one input split; ExampleGen splits by content hash
    root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    report_dir = exec_properties[_REPORT_DIR_PROPERTY]
    listing = ingest.list_class_folders(root)
    logging.info(
        "ImageExampleGen: %d files in %d classes under %s (%d ignored)",
        len(listing.files),
        len(listing.classes),
        root,
        len(listing.ignored),
    )
    results = (
        pipeline
        | "ListFiles" >> beam.Create(listing.files, reshuffle=True)
        | "ReadImages" >> beam.ParDo(_ReadImage()).with_outputs(_QUARANTINED, main="examples")
    )
    _write_lines(results[_QUARANTINED], os.path.join(report_dir, QUARANTINE_FILE), "Quarantine")
    ignored = pipeline | "ListIgnored" >> beam.Create([r.as_dict() for r in listing.ignored])
    _write_lines(ignored, os.path.join(report_dir, IGNORED_FILE), "Ignored")
    counts = {
        name: collection | f"Count{name}" >> beam.combiners.Count.Globally()
        for name, collection in (
            ("examples", results.examples),
            ("quarantined", results[_QUARANTINED]),
        )
    }
    _ = (
        pipeline
        | "SummarySeed" >> beam.Create([None])
        | "Summary"
        >> beam.Map(
            lambda _, examples, quarantined: json.dumps(
                {
                    "files_seen": listing.files_seen,
                    "examples": examples,
                    "quarantined": quarantined,
                    "ignored": len(listing.ignored),
                    "classes": listing.classes,
                }
            ),
            examples=beam.pvalue.AsSingleton(counts["examples"]),
            quarantined=beam.pvalue.AsSingleton(counts["quarantined"]),
        )
        | "WriteSummary"
        >> beam.io.WriteToText(
            os.path.join(report_dir, SUMMARY_FILE), shard_name_template="", num_shards=1
        )
    )
    return results.examples


class Executor(BaseExampleGenExecutor):
    """FileBasedExampleGen executor for image folders, with an ingestion report."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 - TFX API
        return ImagesToExample

    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        report_dir = os.path.join(examples.uri, REPORT_DIR)
        super().Do(input_dict, output_dict, {**exec_properties, _REPORT_DIR_PROPERTY: report_dir})
        summary = read_summary(examples.uri)
        accounted = summary["examples"] + summary["quarantined"] + summary["ignored"]
        if accounted != summary["files_seen"]:
            raise RuntimeError(
                f"ImageExampleGen: counts do not reconcile in {report_dir}: "
                f"{summary['files_seen']} files seen but {accounted} accounted for"
            )
        for key in ("files_seen", "examples", "quarantined", "ignored"):
            examples.set_int_custom_property(key, summary[key])
        logging.info(
            "ImageExampleGen: %d files seen = %d examples + %d quarantined + %d ignored; "
            "report in %s",
            summary["files_seen"],
            summary["examples"],
            summary["quarantined"],
            summary["ignored"],
            report_dir,
        )


def read_summary(examples_uri: str) -> Dict[str, Any]:
    """The ingestion counts stored in an Examples artifact written by this executor."""
    with tf.io.gfile.GFile(os.path.join(examples_uri, REPORT_DIR, SUMMARY_FILE)) as handle:
        return json.loads(handle.read())
