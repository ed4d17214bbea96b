"""What runs after a node of the engagement pipeline, keyed by node id.

The runner (``tfx_pipelines.run_component``) calls ``AFTER_NODE[node id]``, if any,
after that node ran; besides the shared hooks of ``tfx_pipelines.common.hooks``:
- ExampleValidator: writes the TFDV report (``<reports_dir>/tfdv/engagement/<run>/``),
  prints every drift/skew distance against its threshold, and any anomaly (schema,
  drift between spans, training/serving skew) stops the run, naming each feature and
  the reason;
- Evaluator: the calibration gate per channel (:func:`gate_on_calibration_and_report`),
  then whether the model was blessed, why not, and metrics by slice;
- Pusher: appends a registry record when a model was pushed; when the model was not
  blessed it says that nothing was pushed and why, and still succeeds (keeping the
  live model is the right outcome).
"""

from __future__ import annotations

from notiflow import domain
from tfx_pipelines.common import gates, hooks, node_runner
from tfx_pipelines.engagement import configs


def gated_slices() -> list[str]:
    """The slices gated one by one (each channel), named as ``gates.read_metrics`` names them."""
    return [f"{configs.GATED_SLICE_KEY}={channel}" for channel in domain.CHANNELS]


def gate_on_calibration_and_report(run: hooks.NodeRun, result: node_runner.NodeExecution) -> None:
    """After the Evaluator: a channel whose calibration is outside
    ``configs.CALIBRATION_BOUNDS`` beyond sampling error (``gates.calibration_failures``)
    withdraws the blessing (``gates.revoke_blessing``), with the slice and metric as the
    reason, so the Pusher pushes nothing. Then the evaluation report.

    Idempotent: a retry reads the same metrics and reaches the same verdict."""
    evaluation, blessing = result.outputs["evaluation"][0], result.outputs["blessing"][0]
    failures = gates.calibration_failures(
        gates.read_metrics(evaluation),
        gated_slices(),
        configs.CALIBRATION_BOUNDS,
        configs.CALIBRATION_Z,
    )
    if failures:
        gates.revoke_blessing(run.config, blessing, "; ".join(failures))
    hooks.report_evaluation(run, result)


AFTER_NODE: dict[str, hooks.Hook] = {
    configs.EXAMPLE_VALIDATOR: hooks.validate_data,
    configs.EVALUATOR: gate_on_calibration_and_report,
    configs.PUSHER: hooks.register_pushed_model(configs.MODEL_NAME),
}
