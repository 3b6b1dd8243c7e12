"""The Tuner's search through TFX's own executor entry point, on transformed digits: the
random search over tuned values, and the choice among backbones."""

import json

import keras_tuner
import pytest
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner import executor as tuner_executor
from tfx.types import standard_artifacts, standard_component_specs

from pipeline import config_loader
from pipeline.pipeline import tuner_config
from tests.trainer.conftest import IMAGE_SIZE
from trainer import run, selection, tuning
from trainer.settings import TrainingSettings


def search(transformed_digits, working_dir, trainer):
    """tuner_fn on the transformed digits with the `trainer` section, searched and written
    out by TFX's Tuner executor code; returns the tuner, the custom_config it had, and the
    best hyperparameters' values as the Trainer's executor reads them from the file."""
    config = tuner_config(
        config_loader.config_from_dict(
            {"preprocessing": {"image_size": IMAGE_SIZE}, "trainer": trainer}
        )
    )
    fn_args = FnArgs(
        train_files=transformed_digits.train_files,
        eval_files=transformed_digits.eval_files,
        transform_graph_path=transformed_digits.transform_output,
        working_dir=str(working_dir),
        custom_config=config,
    )
    result = tuning.tuner_fn(fn_args)
    result.tuner.search(**result.fit_kwargs)
    outputs = {}
    for key, kind in (
        (standard_component_specs.BEST_HYPERPARAMETERS_KEY, standard_artifacts.HyperParameters),
        (standard_component_specs.TUNER_RESULTS_KEY, standard_artifacts.TunerResults),
    ):
        artifact = kind()
        artifact.uri = str(working_dir / key)
        outputs[key] = [artifact]
    tuner_executor.write_best_hyperparameters(result.tuner, outputs)
    (written,) = (working_dir / standard_component_specs.BEST_HYPERPARAMETERS_KEY).iterdir()
    tuned = keras_tuner.HyperParameters.from_config(json.loads(written.read_text())).values
    return result.tuner, config, tuned


def test_search_finds_best_hyperparameters_that_run_fn_applies(transformed_digits, tmp_path):
    tuner, config, tuned = search(
        transformed_digits,
        tmp_path,
        {
            "backbone": "compact",
            "batch_size": 16,
            "tuner": {
                "enabled": True,
                "trials": 2,
                "epochs": 1,
                "learning_rates": [1e-3],
                "dropouts": [0.1, 0.3],
            },
        },
    )
    trials = tuner.oracle.get_best_trials(num_trials=5)
    assert len(trials) == 2
    assert {t.hyperparameters.values["dropout"] for t in trials} == {0.1, 0.3}
    assert all(0 <= t.score <= 1 for t in trials)
    assert tuned["dropout"] == trials[0].hyperparameters.values["dropout"]

    applied = run.apply_hyperparameters(TrainingSettings.from_custom_config(config).trainer, tuned)
    assert applied.dropout == tuned["dropout"]
    assert applied.learning_rate == 1e-3


def test_a_latency_bound_only_one_candidate_meets_chooses_it_and_the_table_reaches_run_fn(
    transformed_digits, tmp_path
):
    """VGG16 at 32 px runs in about 2 ms as int8 here, compact in about 0.25 ms: a 1 ms bound
    leaves compact alone within it, however the two compare on accuracy."""
    _, config, tuned = search(
        transformed_digits,
        tmp_path,
        {
            "backbone": ["VGG16", "compact"],
            "batch_size": 16,
            "tuner": {"epochs": 1},
            "selection": {"max_latency_ms": 1.0},
        },
    )
    rows = json.loads(tuned[selection.SELECTION_KEY])
    by_name = {row["backbone"]: row for row in rows}
    assert set(by_name) == {"VGG16", "compact"}
    assert by_name["VGG16"]["int8_latency_ms"] > 1.0 > by_name["compact"]["int8_latency_ms"]
    assert by_name["VGG16"]["int8_size_mb"] > 10 * by_name["compact"]["int8_size_mb"]
    assert all(0 <= row["accuracy"] <= 1 and row["seconds_per_epoch"] > 0 for row in rows)
    assert [(row["backbone"], row["chosen"], row["within_bounds"]) for row in rows] == [
        ("compact", True, True),
        ("VGG16", False, False),
    ]

    applied = run.apply_hyperparameters(TrainingSettings.from_custom_config(config).trainer, tuned)
    assert applied.backbone == "compact" and not applied.candidates


def test_run_fn_refuses_candidates_no_tuner_chose_among():
    config = tuner_config(
        config_loader.config_from_dict(
            {
                "preprocessing": {"image_size": IMAGE_SIZE},
                "trainer": {"backbone": ["VGG16", "compact"]},
            }
        )
    )
    with pytest.raises(selection.SelectionError, match="lists VGG16, compact, but no choice"):
        run.run_fn(FnArgs(custom_config=config, hyperparameters=None))
