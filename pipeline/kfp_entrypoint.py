"""The task command of specs compiled before the Kubeflow code moved to pipeline/kubeflow/
(`python -m pipeline.kfp_entrypoint`): their uploaded pipelines and recurring runs keep
working in a rebuilt image. Recompile to get what the new spec adds (caching that follows
the data, retries, requests): README, "Run on Kubeflow"."""

from pipeline.kubeflow.entrypoint import main

if __name__ == "__main__":
    main()
