"""What runs after a node of the ranking pipeline, keyed by node id (the shared hooks of
``tfx_pipelines.common.hooks``): the TFDV report and anomaly gate; after the Evaluator,
the popularity-baseline gate and the evaluation report (NDCG@3, NDCG@5, min label
position, overall and by platform, and the baseline's NDCG@3); the registry record of a
pushed model (with the baseline's NDCG@3)."""

from __future__ import annotations

import math

from tfx.types import artifact_utils

from tfx_pipelines.common import gates, hooks, node_runner
from tfx_pipelines.components.duckdb_example_gen import EVAL_SPLIT
from tfx_pipelines.ranking import baseline, configs, features


def popularity_ndcg(run: hooks.NodeRun) -> tuple[float, int]:
    """NDCG@3 (and the number of lists with a click) of ordering each list of the
    evaluation split by ``configs.POPULARITY_FEATURE_KEY``: the Evaluator's examples."""
    example_gen = run.done(run.producer("examples"))
    if example_gen is None:
        raise node_runner.NodeRunError("the Evaluator's ExampleGen has no execution in this run")
    split_uri = artifact_utils.get_split_uri(example_gen.outputs["examples"], EVAL_SPLIT)
    data = baseline.read_split(
        split_uri,
        {
            features.LIST_ID_KEY: "bytes",
            features.LABEL_KEY: "int",
            configs.POPULARITY_FEATURE_KEY: "float",
        },
    )
    return baseline.ndcg_by_list(
        data[features.LIST_ID_KEY],
        data[configs.POPULARITY_FEATURE_KEY],
        data[features.LABEL_KEY],
        configs.NDCG_TOP_K,
    )


def gate_on_popularity_and_report(run: hooks.NodeRun, result: node_runner.NodeExecution) -> None:
    """After the Evaluator: a model TFMA blessed keeps its blessing only if its overall
    NDCG@3 beats the popularity order's on the same evaluation day by more than
    ``configs.POPULARITY_MIN_LIFT``; otherwise the blessing is withdrawn
    (:func:`gates.revoke_blessing`) and the Pusher pushes nothing (it is then skipped,
    as for a model TFMA did not bless). Prints the report with both NDCG@3s.

    Idempotent: a retry finds the same verdict (the baseline is recomputed from the
    run's ExampleGen output; a withdrawn blessing stays withdrawn)."""
    evaluation, blessing = result.outputs["evaluation"][0], result.outputs["blessing"][0]
    popularity, lists = popularity_ndcg(run)
    model = gates.read_metrics(evaluation).get("overall", {}).get(configs.NDCG_METRIC)
    gates.add_extra_metrics(run.config, blessing, {configs.POPULARITY_METRIC: popularity})
    better = (
        model is not None
        and not math.isnan(popularity)
        and model - popularity > configs.POPULARITY_MIN_LIFT
    )
    model_text = "not computed" if model is None else f"{model:.4g}"
    if gates.is_blessed(blessing) and not better:
        gates.revoke_blessing(
            run.config,
            blessing,
            f"{configs.NDCG_METRIC} = {model_text} is not better than the popularity baseline's "
            f"{popularity:.4g} (items ordered by {configs.POPULARITY_FEATURE_KEY}, same eval "
            f"day, required lift > {configs.POPULARITY_MIN_LIFT:g}): nothing will be pushed",
        )
    hooks.write_evaluation_summary(run, result, configs.REPORTED_METRICS)
    print(gates.evaluation_report(evaluation, blessing, configs.REPORTED_METRICS))
    print(
        f"  popularity baseline (each digest ordered by {configs.POPULARITY_FEATURE_KEY}, "
        f"{lists} lists with a click): {configs.NDCG_METRIC}={popularity:.4g} vs the model's "
        f"{model_text}: {'better' if better else 'NOT better'}"
    )


AFTER_NODE: dict[str, hooks.Hook] = {
    configs.EXAMPLE_VALIDATOR: hooks.validate_data,
    configs.EVALUATOR: gate_on_popularity_and_report,
    configs.PUSHER: hooks.register_pushed_model(configs.MODEL_NAME, configs.REPORTED_METRICS),
}
