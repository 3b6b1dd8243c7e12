"""The Tuner's search through TFX's own executor entry point, on transformed digits."""

import keras_tuner
from tfx.components.trainer.fn_args_utils import FnArgs

from pipeline import config_loader
from pipeline.pipeline import tuner_config
from tests.trainer.conftest import IMAGE_SIZE
from trainer import run, tuning
from trainer.settings import TrainingSettings


def test_search_finds_best_hyperparameters_that_run_fn_applies(transformed_digits, tmp_path):
    config = tuner_config(
        config_loader.config_from_dict(
            {
                "preprocessing": {"image_size": IMAGE_SIZE},
                "trainer": {
                    "batch_size": 16,
                    "tuner": {
                        "enabled": True,
                        "trials": 2,
                        "epochs": 1,
                        "learning_rates": [1e-3],
                        "dropouts": [0.1, 0.3],
                    },
                },
            }
        )
    )
    fn_args = FnArgs(
        train_files=transformed_digits.train_files,
        eval_files=transformed_digits.eval_files,
        transform_graph_path=transformed_digits.transform_output,
        working_dir=str(tmp_path),
        custom_config=config,
    )
    result = tuning.tuner_fn(fn_args)
    result.tuner.search(**result.fit_kwargs)

    trials = result.tuner.oracle.get_best_trials(num_trials=5)
    assert len(trials) == 2
    assert {t.hyperparameters.values["dropout"] for t in trials} == {0.1, 0.3}
    assert all(0 <= t.score <= 1 for t in trials)
    best = result.tuner.get_best_hyperparameters()[0]
    assert isinstance(best, keras_tuner.HyperParameters)

    # What TFX hands run_fn: the best HyperParameters' config, as JSON.
    tuned = keras_tuner.HyperParameters.from_config(best.get_config()).values
    applied = run.apply_hyperparameters(TrainingSettings.from_custom_config(config).trainer, tuned)
    assert applied.dropout == best.values["dropout"]
    assert applied.learning_rate == 1e-3
