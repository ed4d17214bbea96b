"""What runs after a node of the engagement pipeline, keyed by node id.

The runner (``tfx_pipelines.run_component``) calls ``AFTER_NODE[node id]``, if any,
after that node ran; the hooks themselves are the shared ones of
``tfx_pipelines.common.hooks``:
- ExampleValidator: writes the TFDV report (``<reports_dir>/tfdv/engagement/<run>/``),
  prints every drift/skew distance against its threshold, and any anomaly (schema,
  drift between spans, training/serving skew) stops the run, naming each feature and
  the reason;
- Evaluator: prints whether the model was blessed, why not, and metrics by slice;
- Pusher: appends a registry record when a model was pushed; when the model was not
  blessed it says that nothing was pushed and why, and still succeeds (keeping the
  live model is the right outcome).
"""

from __future__ import annotations

from tfx_pipelines.common import hooks
from tfx_pipelines.engagement import configs

AFTER_NODE: dict[str, hooks.Hook] = {
    configs.EXAMPLE_VALIDATOR: hooks.validate_data,
    configs.EVALUATOR: hooks.report_evaluation,
    configs.PUSHER: hooks.register_pushed_model(configs.MODEL_NAME),
}
