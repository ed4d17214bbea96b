"""What runs after a node of the ranking pipeline, keyed by node id (the shared hooks of
``tfx_pipelines.common.hooks``): the TFDV report and anomaly gate, the evaluation
report (NDCG@3, min label position) and the registry record of a pushed model."""

from __future__ import annotations

from tfx_pipelines.common import hooks
from tfx_pipelines.ranking import configs

AFTER_NODE: dict[str, hooks.Hook] = {
    configs.EXAMPLE_VALIDATOR: hooks.validate_data,
    configs.EVALUATOR: hooks.report_evaluation_of(configs.REPORTED_METRICS),
    configs.PUSHER: hooks.register_pushed_model(configs.MODEL_NAME, configs.REPORTED_METRICS),
}
