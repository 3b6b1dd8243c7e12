"""Writing an Examples split as GZIP TFRecords whose deflate blocks are stored, not compressed.

TFX's downstream components read an Examples artifact as GZIP TFRecords
(`FORMAT_TFRECORDS_GZIP`), and TFX's own writer compresses every record at zlib's default
level. Image records are JPEG/PNG/GIF bytes that are compressed already: deflate wins under
1% on them, for about 1 ms of CPU per 70 KB photo (20 times the cost of reading and hashing
the file; measured in bench/README.md). Level 0 writes the same GZIP container with stored
blocks, which every GZIP reader reads, at the cost of a checksum.

The writer is TensorFlow's C++ TFRecordWriter (hardware CRC32C, GCS/S3 through
`tf.io.gfile`) inside Beam's FileBasedSink, which writes each bundle to a temporary file and
renames the files into place once every bundle has succeeded, so a retried bundle never
leaves a partial or duplicate shard.
"""

from __future__ import annotations

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes

COMPRESSION_LEVEL = 0
"""zlib level of the GZIP records: 0 stores the (already compressed) image bytes as they are."""


class StoredGzipTFRecordSink(filebasedsink.FileBasedSink):
    """FileBasedSink of serialized records into `<prefix>-NNNNN-of-NNNNN.gz` GZIP TFRecords."""

    def __init__(self, file_path_prefix: str):
        super().__init__(
            file_path_prefix,
            coder=beam.coders.BytesCoder(),
            file_name_suffix=".gz",
            compression_type=CompressionTypes.UNCOMPRESSED,
        )

    def open(self, temp_path: str) -> tf.io.TFRecordWriter:
        options = tf.io.TFRecordOptions(
            compression_type="GZIP", compression_level=COMPRESSION_LEVEL
        )
        return tf.io.TFRecordWriter(temp_path, options)

    def write_encoded_record(self, file_handle: tf.io.TFRecordWriter, encoded_value: bytes) -> None:
        file_handle.write(encoded_value)

    def close(self, file_handle: tf.io.TFRecordWriter) -> None:
        file_handle.close()
