"""The backbones compared on the digits demo, by the pipeline's own backbone selection.

Runs the demo (configs/demo.yaml: digits at 32 px, random initialisation, the demo's
augmentation and schedule) with `trainer.backbone` listing the candidates, so the Tuner
trains each for the same epochs, scores it on the eval split and measures its int8 TFLite
model with the interpreter (trainer/selection.py); the Trainer then trains the chosen one
as many epochs, and the run goes on to the Evaluator and the pushers as usual. Prints the
candidates' table as Markdown, for bench/README.md.

    .venv/bin/image-pipeline demo-data --out data/digits
    .venv/bin/python bench/backbones.py --epochs 10
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pipeline import cli, config_loader, summary  # noqa: E402

CANDIDATES = ["EfficientNetB0", "MobileNetV3Small", "ResNet50V2", "compact"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per candidate")
    parser.add_argument("--output-dir", default="runs/bench-backbones")
    args = parser.parse_args()
    overrides = [
        f"trainer.backbone=[{', '.join(CANDIDATES)}]",
        f"trainer.tuner.epochs={args.epochs}",
        f"trainer.epochs={args.epochs}",
        f"output_dir={args.output_dir}",
    ]
    started = time.monotonic()
    code = cli.main(["run", "--config", args.config, *[f"--set={o}" for o in overrides]])
    elapsed = time.monotonic() - started
    config = config_loader.load_config(args.config, overrides)
    result = summary.summarize(config)
    print(f"\npipeline exit code {code}, {elapsed:.0f} s in all\n")
    print("| backbone | eval accuracy | int8 size (MB) | int8 latency (ms) | s / epoch |")
    print("|---|---|---|---|---|")
    for row in result.backbone_choice["candidates"]:
        print(
            f"| {row['backbone']}{' (chosen)' if row['chosen'] else ''} | "
            f"{row['accuracy']:.4f} | {row['int8_size_mb']:.2f} | "
            f"{row['int8_latency_ms']:.2f} | {row['seconds_per_epoch']:.1f} |"
        )


if __name__ == "__main__":
    main()
