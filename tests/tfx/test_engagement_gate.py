"""The engagement push gate per slice, on TFMA's real validation: planted models that are
bad on one channel only are refused, naming that channel and metric; the training
schedule follows the data size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tfx

tf = pytest.importorskip("tensorflow")
tfma = pytest.importorskip("tensorflow_model_analysis")

from tfx.types import standard_artifacts  # noqa: E402

from notiflow import domain  # noqa: E402
from tfx_pipelines.common import gates  # noqa: E402
from tfx_pipelines.engagement import configs, features, hooks, model  # noqa: E402
from tfx_pipelines.engagement import pipeline as engagement  # noqa: E402

ROWS_PER_CHANNEL = 1500
AUC_FLOOR = 0.6


def _logit(signal: np.ndarray | tf.Tensor):
    return -1.5 + 1.5 * signal


@pytest.fixture(scope="module")
def evaluation_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tf.Examples whose label is drawn from sigmoid(_logit(signal)), on every channel."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("gate") / "eval.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for channel in domain.CHANNELS:
            signal = rng.normal(0, 1, ROWS_PER_CHANNEL)
            label = rng.uniform(size=ROWS_PER_CHANNEL) < 1 / (1 + np.exp(-_logit(signal)))
            for s, y in zip(signal, label, strict=True):
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "channel": tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[channel.encode()])
                            ),
                            "platform": tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[b"ios"])
                            ),
                            "signal": tf.train.Feature(float_list=tf.train.FloatList(value=[s])),
                            features.LABEL_KEY: tf.train.Feature(
                                int64_list=tf.train.Int64List(value=[int(y)])
                            ),
                        }
                    )
                )
                writer.write(example.SerializeToString())
    return path


class PlantedModel(tf.Module):
    """A served engagement model whose P(open) is the true one, except on ``channel``:
    there it is the same for every send (``flat``: no ranking at all) or multiplied by
    ``scale``."""

    def __init__(self, channel: str | None = None, flat: bool = False, scale: float = 1.0):
        super().__init__()
        self.channel, self.flat, self.scale = channel, flat, scale

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(
            examples,
            {
                "channel": tf.io.FixedLenFeature([1], tf.string),
                "signal": tf.io.FixedLenFeature([1], tf.float32),
            },
        )
        logit = _logit(parsed["signal"])
        planted = tf.equal(parsed["channel"], self.channel or "")
        if self.flat:
            logit = tf.where(planted, tf.fill(tf.shape(logit), -1.2), logit)
        probability = tf.sigmoid(logit)
        probability = tf.where(planted, tf.minimum(probability * self.scale, 0.999), probability)
        return {features.PREDICTION_KEY: probability}


def _save(planted: PlantedModel, path: Path) -> str:
    tf.saved_model.save(planted, str(path), signatures={"serving_default": planted.serve})
    return str(path)


def _evaluate(
    data: Path, out: Path, candidate: PlantedModel, baseline: PlantedModel | None
) -> standard_artifacts.ModelEvaluation:
    """TFMA's evaluation and validation of ``candidate`` (against ``baseline``) with the
    pipeline's eval_config, set up as TFX's Evaluator sets it up."""
    config = tfma.utils.update_eval_config_with_defaults(
        engagement.eval_config(AUC_FLOOR), has_baseline=baseline is not None, rubber_stamp=True
    )
    models = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=_save(
                baseline if spec.is_baseline else candidate, out / (spec.name or "candidate")
            ),
            model_name=spec.name,
            eval_config=config,
        )
        for spec in config.model_specs
    ]
    tfma.run_model_analysis(
        eval_shared_model=models if len(models) > 1 else models[0],
        eval_config=config,
        data_location=str(data),
        output_path=str(out / "evaluation"),
    )
    artifact = standard_artifacts.ModelEvaluation()
    artifact.uri = str(out / "evaluation")
    return artifact


def test_a_model_bad_on_one_channel_is_refused_naming_that_channel(
    evaluation_data: Path, tmp_path: Path
) -> None:
    """No ranking on email only: the overall AUC passes the floor, email's fails it; and
    against a blessed model, email's loss of AUC fails its change threshold while the
    other channels, as good as the baseline's, pass theirs."""
    evaluation = _evaluate(
        evaluation_data,
        tmp_path / "first",
        candidate=PlantedModel("email", flat=True),
        baseline=None,
    )
    metrics = gates.read_metrics(evaluation)
    assert metrics["overall"]["auc"] > AUC_FLOOR  # gating the overall slice alone would bless it
    failures = gates.validation_failures(evaluation)
    assert len(failures) == 1 and failures[0].startswith("[channel=email] auc = 0.5"), failures
    assert f"fails threshold >= {AUC_FLOOR:g}" in failures[0]

    against_baseline = _evaluate(
        evaluation_data,
        tmp_path / "second",
        candidate=PlantedModel("email", flat=True),
        baseline=PlantedModel(),
    )
    failures = gates.validation_failures(against_baseline)
    assert "[channel=email] auc change vs baseline" in "\n".join(failures), failures
    assert not [f for f in failures if f.startswith(("[channel=push]", "[channel=in_app]"))]
    # the calibration gate does not mistake a ranking failure for a calibration one
    assert not gates.calibration_failures(
        metrics, hooks.gated_slices(), configs.CALIBRATION_BOUNDS, configs.CALIBRATION_Z
    )


def test_a_model_miscalibrated_on_one_channel_is_refused_naming_that_channel(
    evaluation_data: Path, tmp_path: Path
) -> None:
    """P(open) x 1.5 on push only: the order, hence every AUC, is intact (TFMA blesses it),
    and the calibration gate refuses it on push alone; the true model passes both."""
    evaluation = _evaluate(
        evaluation_data, tmp_path, candidate=PlantedModel("push", scale=1.5), baseline=None
    )
    assert not gates.validation_failures(evaluation)
    metrics = gates.read_metrics(evaluation)
    failures = gates.calibration_failures(
        metrics, hooks.gated_slices(), configs.CALIBRATION_BOUNDS, configs.CALIBRATION_Z
    )
    assert len(failures) == 1 and failures[0].startswith("[channel=push] calibration = 1.")
    assert "standard errors" in failures[0]

    honest = _evaluate(
        evaluation_data, tmp_path / "honest", candidate=PlantedModel(), baseline=None
    )
    honest_metrics = gates.read_metrics(honest)
    assert not gates.calibration_failures(
        honest_metrics, hooks.gated_slices(), configs.CALIBRATION_BOUNDS, configs.CALIBRATION_Z
    )
    assert not gates.validation_failures(honest)


def _slice(n: float, mean_label: float, mean_prediction: float) -> dict[str, float]:
    return {"example_count": n, "mean_label": mean_label, "mean_prediction": mean_prediction}


def test_calibration_gate_refuses_only_beyond_sampling_error() -> None:
    bounds, z = (0.9, 1.1), 3.0
    # 20% too high: refused on 100k examples, not on 200 (the mean label is too noisy)
    assert gates.calibration_failures(
        {"channel=push": _slice(100_000, 0.05, 0.06)}, ["channel=push"], bounds, z
    )
    assert not gates.calibration_failures(
        {"channel=push": _slice(200, 0.05, 0.06)}, ["channel=push"], bounds, z
    )
    # within the bounds: never refused, however many examples
    assert not gates.calibration_failures(
        {"channel=push": _slice(10**7, 0.05, 0.054)}, ["channel=push"], bounds, z
    )
    # too low is refused too; a slice without data is left to TFMA's missing-slice check
    (line,) = gates.calibration_failures(
        {"channel=email": _slice(50_000, 0.2, 0.15)}, ["channel=email", "channel=push"], bounds, z
    )
    assert line.startswith("[channel=email] calibration = 0.75")


def test_training_schedule_follows_the_data_size() -> None:
    small = model.training_schedule(train_rows=1_000, eval_rows=100, max_steps=None)
    assert small["steps_per_check"] == configs.MIN_STEPS_PER_CHECK  # tiny data still trains
    large = model.training_schedule(train_rows=1_400_000, eval_rows=100_000, max_steps=None)
    steps_per_epoch = math.ceil(1_400_000 / configs.TRAIN_BATCH_SIZE)
    assert large["steps_per_check"] * configs.CHECKS_PER_EPOCH >= steps_per_epoch
    total = large["steps_per_check"] * large["checks"]
    assert configs.TRAIN_EPOCHS * steps_per_epoch <= total
    assert total < (configs.TRAIN_EPOCHS + 1) * steps_per_epoch
    assert large["validation_steps"] * configs.EVAL_BATCH_SIZE >= 100_000  # the whole eval split
    capped = model.training_schedule(train_rows=1_400_000, eval_rows=100, max_steps=5)
    assert capped["steps_per_check"] * capped["checks"] <= 5
