"""LatestBlessedModel: the baseline and warm-start model as an ordinary task (Kubeflow)."""
