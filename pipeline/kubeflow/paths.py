"""Where the open-source launcher puts object-store URIs on a task's disk; light (no
TensorFlow, no TFX), for the tasks that only read a few files."""

LOCAL_MOUNTS = {"gs://": "/gcs/", "s3://": "/s3/", "minio://": "/minio/"}
"""Where the open-source launcher puts an object-store URI on the container's disk
(`LocalPathForURI`, backend/src/v2/component/launcher_v2.go); Vertex mounts gs:// at /gcs/."""


def local_path(uri: str) -> str:
    """The launcher's local path for `uri`; `uri` itself when it is not in an object store."""
    for scheme, mount in LOCAL_MOUNTS.items():
        if uri.startswith(scheme):
            return mount + uri[len(scheme) :]
    return uri
