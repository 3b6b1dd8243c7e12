"""Kubeflow Pipelines v2, both backends: everything the pipeline does on a cluster.

- compiler.py: the TFX DAG compiled with KubeflowV2DagRunner, then what a cluster needs
  added to the spec (caching.py, resources.py, retries.py, report_view.py);
- entrypoint.py: the command of every TFX task on open-source KFP (mends its launcher's
  input for TFX);
- tasks.py: the command of the tasks that are ours and not TFX components (the cache
  fingerprints, the baseline lookup, the report's view in the UI);
- kfp_client.py, vertex_client.py: `submit` and `schedule`, one per backend.
"""
