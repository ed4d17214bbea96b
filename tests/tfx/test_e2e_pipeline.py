"""End to end: every node as its own `run_component` process, one run id, as Airflow does.

A synthetic mart of 8 days x 375 rows (7 training days + the evaluation day). The first
run blesses and pushes (no baseline yet); a second run with an unreachable AUC floor
compares against that model and must push nothing; a run on a broken evaluation day
must stop at ExampleValidator, and so must a day that drifted from the previous day's run.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synthetic_mart import (
    END_DS,
    TABLE,
    days_before,
    synthetic_examples,
    write_warehouse,
)

pytestmark = [pytest.mark.tfx, pytest.mark.e2e]

pytest.importorskip("tfx")

from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.orchestration import metadata  # noqa: E402

from notiflow import model_evaluations, pipelines, registry  # noqa: E402
from notiflow.settings import Settings  # noqa: E402
from tfx_pipelines import run_component  # noqa: E402
from tfx_pipelines.common import evaluation_summary, node_runner  # noqa: E402
from tfx_pipelines.engagement import configs as engagement  # noqa: E402

GRAPH = pipelines.load_graph("engagement")
NODES = [node["id"] for node in GRAPH]
ROWS_PER_DAY = 375
TRAINING_DAYS = 7
FIRST_RUN = "manual__2026-01-10T06:00:00+00:00"
SECOND_RUN = "scheduled__2026-01-10T07:00:00+00:00"


class Home:
    """A NOTIFLOW_HOME with its environment, settings and a runner of CLI commands."""

    def __init__(self, path: Path, **overrides: str):
        self.env = {
            **os.environ,
            "NOTIFLOW_HOME": str(path),
            "NOTIFLOW_TRAINING_DAYS": str(TRAINING_DAYS),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **overrides,
        }
        # Outside the checkout: the TFX environment runs the installed package.
        self.cwd = path.parent
        self.settings = Settings.load(self.env)
        self.timings: dict[str, float] = {}

    def run(self, label: str, module: str, *args: str) -> subprocess.CompletedProcess:
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        self.timings[label] = time.monotonic() - start
        return result

    def node(
        self,
        node_id: str,
        run_id: str,
        expect_rc: int = 0,
        end_ds: datetime.date = END_DS,
    ) -> subprocess.CompletedProcess:
        result = self.run(
            node_id,
            "tfx_pipelines.run_component",
            "--pipeline",
            "engagement",
            "--node",
            node_id,
            "--run-id",
            run_id,
            "--end-ds",
            end_ds.isoformat(),
        )
        if result.returncode != expect_rc:
            pytest.fail(
                f"{node_id} exited {result.returncode}, expected {expect_rc}\n"
                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result

    def executions(self, run_id: str) -> dict[str, list[metadata_store_pb2.Execution]]:
        """Executions per node in the run's MLMD context."""
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(self.settings.metadata_path)
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        pipeline_run_id = node_runner.sanitize_run_id(run_id)
        with metadata.Metadata(config) as m:
            run_context = m.store.get_context_by_type_and_name("pipeline_run", pipeline_run_id)
            assert run_context is not None, f"no pipeline_run context {pipeline_run_id}"
            in_run = m.store.get_executions_by_context(run_context.id)
            result = {}
            for node_id in NODES:
                ids = {
                    e.execution.id
                    for e in node_runner.node_executions(m, "engagement", pipeline_run_id, node_id)
                }
                result[node_id] = [e for e in in_run if e.id in ids]
            assert sum(map(len, result.values())) == len(in_run), "executions of unknown nodes"
        return result

    def tfdv_summary(self, run_id: str) -> dict:
        path = (
            self.settings.reports_dir
            / "tfdv"
            / "engagement"
            / node_runner.sanitize_run_id(run_id)
            / "summary.json"
        )
        return json.loads(path.read_text())

    @property
    def model_dir(self) -> Path:
        return self.settings.serving_dir / "engagement"

    def versions(self) -> list[str]:
        return sorted(p.name for p in self.model_dir.iterdir() if p.name.isdigit())


def _assert_one_complete_execution_per_node(home: Home, run_id: str) -> None:
    executions = home.executions(run_id)
    assert sorted(executions) == sorted(NODES)
    for node_id, found in executions.items():
        assert len(found) == 1, f"{node_id}: {len(found)} executions in run {run_id}"
        assert found[0].last_known_state == metadata_store_pb2.Execution.COMPLETE, node_id


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs every node of run FIRST_RUN; ExampleGen first fails (eval day not loaded
    yet) and is retried once the day is there, as an Airflow retry would."""
    home = Home(tmp_path_factory.mktemp("e2e") / "home")
    started = time.monotonic()
    warehouse = home.settings.warehouse_path
    write_warehouse(
        warehouse, synthetic_examples(days_before(END_DS, TRAINING_DAYS), ROWS_PER_DAY, seed=3)
    )
    empty_eval = home.node(engagement.EXAMPLE_GEN, FIRST_RUN, expect_rc=1)
    home.timings["ExampleGen (empty eval day)"] = home.timings.pop(engagement.EXAMPLE_GEN)
    write_warehouse(warehouse, synthetic_examples([END_DS], ROWS_PER_DAY, seed=4))

    outputs = {node_id: home.node(node_id, FIRST_RUN) for node_id in NODES}
    pusher_retry = home.node(engagement.PUSHER, FIRST_RUN)
    check = home.run(
        "serving_check", "tfx_pipelines.serving_check", "--pipeline", "engagement", "--limit", "25"
    )
    home.timings["total"] = time.monotonic() - started
    print("\nfirst run timings (s):", {k: round(v, 1) for k, v in home.timings.items()})
    return {
        "home": home,
        "empty_eval": empty_eval,
        "outputs": outputs,
        "pusher_retry": pusher_retry,
        "serving_check": check,
    }


def test_first_run_blesses_pushes_and_serves(first_run: dict) -> None:
    home: Home = first_run["home"]

    # The failed first attempt named the problem, and its retry reused the execution.
    err = first_run["empty_eval"].stderr
    assert "split is empty" in err and TABLE in err and f"[{END_DS}, {END_DS}]" in err
    _assert_one_complete_execution_per_node(home, FIRST_RUN)

    # No earlier span: drift is not checked, skew is, and the report says it passed.
    validator = first_run["outputs"][engagement.EXAMPLE_VALIDATOR].stdout
    assert "(none found: drift not checked)" in validator
    assert "skew channel: l_infty" in validator and "TFDV report written to" in validator
    summary = home.tfdv_summary(FIRST_RUN)
    assert summary["status"] == "pass" and summary["anomaly_count"] == 0
    assert summary["eval_ds"] == END_DS.isoformat() and summary["run_id"] == FIRST_RUN

    evaluator = first_run["outputs"][engagement.EVALUATOR].stdout
    assert "model BLESSED" in evaluator
    assert "no blessed baseline yet" in evaluator  # TFX rubber-stamps the first model
    assert "channel=push" in evaluator and "platform=ios" in evaluator
    assert "pushed engagement version" in first_run["outputs"][engagement.PUSHER].stdout
    assert "already had this version" in first_run["pusher_retry"].stdout

    (version,) = home.versions()
    (record,) = registry.records(home.settings, "engagement")
    assert record["model"] == "engagement"
    assert record["version"] == version
    assert record["path"] == str(home.model_dir / version)
    assert record["run_id"] == FIRST_RUN
    assert record["eval_window"] == {"start": END_DS.isoformat(), "end": END_DS.isoformat()}
    assert record["auc"] >= home.settings.auc_floor
    assert record["pushed_at"]

    check = first_run["serving_check"]
    assert check.returncode == 0, check.stderr[-3000:]
    served = json.loads(check.stdout)
    assert served["version"] == version
    assert served["n"] == 25 and len(served["predictions"]) == 25
    assert all(0.0 < p < 1.0 for p in served["predictions"])
    assert len(set(served["predictions"])) > 1
    assert served["pipeline"] == "engagement"
    assert served["metrics"]["auc"] == record["auc"]


def test_second_run_against_baseline_pushes_nothing(first_run: dict) -> None:
    first: Home = first_run["home"]
    # Same home, an AUC floor no model reaches: the baseline is resolved from the
    # first run and the new model must not replace it.
    home = Home(Path(first.env["NOTIFLOW_HOME"]), NOTIFLOW_AUC_FLOOR="0.99")
    outputs = {node_id: home.node(node_id, SECOND_RUN) for node_id in NODES}
    print("\nsecond run timings (s):", {k: round(v, 1) for k, v in home.timings.items()})

    _assert_one_complete_execution_per_node(home, SECOND_RUN)
    _assert_one_complete_execution_per_node(home, FIRST_RUN)
    evaluator = outputs[engagement.EVALUATOR].stdout
    assert "model NOT blessed" in evaluator
    # The baseline is the first run's model (Trainer output), found by the Resolver.
    first_model = first.executions(FIRST_RUN)[engagement.TRAINER][0].id
    assert f"compared with the last blessed model {home.settings.pipeline_root}" in evaluator
    assert f"/Trainer/model/{first_model}" in evaluator
    assert "[overall] auc = " in evaluator and "fails threshold >= 0.99" in evaluator
    pusher = outputs[engagement.PUSHER].stdout
    assert "NOTHING PUSHED" in pusher and "fails threshold >= 0.99" in pusher
    # Opt-in exit status for "nothing pushed" (e.g. 99 = BashOperator skip); a retry of
    # the finished Pusher reaches the same verdict from MLMD.
    retry = home.run(
        "Pusher retry",
        "tfx_pipelines.run_component",
        "--pipeline",
        "engagement",
        "--node",
        engagement.PUSHER,
        "--run-id",
        SECOND_RUN,
        "--end-ds",
        END_DS.isoformat(),
        "--not-pushed-exit-code",
        "99",
    )
    assert retry.returncode == 99, retry.stderr[-3000:]
    assert "NOTHING PUSHED" in retry.stdout
    assert len(home.executions(SECOND_RUN)[engagement.PUSHER]) == 1
    assert len(first.versions()) == 1
    assert len(registry.records(first.settings, "engagement")) == 1


def test_anomalous_eval_day_stops_the_run(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    train = synthetic_examples(days_before(END_DS, TRAINING_DAYS), 60, seed=5)
    broken = synthetic_examples([END_DS], 60, seed=6)
    broken.loc[::4, "channel"] = "sms"  # a channel the model never saw
    broken.loc[::3, "platform"] = None  # nulls in a required feature
    write_warehouse(home.settings.warehouse_path, train)
    write_warehouse(home.settings.warehouse_path, broken)
    run_id = "manual__anomalies"
    for node_id in NODES[: NODES.index(engagement.EXAMPLE_VALIDATOR)]:
        home.node(node_id, run_id)

    validator = home.node(engagement.EXAMPLE_VALIDATOR, run_id, expect_rc=run_component.EXIT_GATE)
    assert "[eval] feature 'channel'" in validator.stderr
    assert "sms" in validator.stderr
    assert "[eval] feature 'platform'" in validator.stderr
    # The training window itself is valid; what the train split reports is its skew
    # against the broken day (an unseen 'sms' share is far above the threshold).
    train_lines = [
        line for line in validator.stderr.split("ERROR:")[-1].splitlines() if "[train]" in line
    ]
    assert train_lines and all("training/serving skew" in line for line in train_lines)
    assert any("'channel'" in line for line in train_lines)
    # The report is written when validation fails too.
    summary = home.tfdv_summary(run_id)
    assert summary["status"] == "fail" and summary["anomaly_count"] >= 3

    transform = home.node(engagement.TRANSFORM, run_id, expect_rc=run_component.EXIT_GATE)
    assert "upstream ExampleValidator failed its gate" in transform.stderr
    assert home.executions(run_id)[engagement.TRANSFORM] == []


def test_drift_between_consecutive_spans_stops_the_run(tmp_path: Path) -> None:
    """Day D-1's run records its statistics; day D's run measures drift against them."""
    home = Home(tmp_path / "home")
    previous_day = END_DS - datetime.timedelta(days=1)
    history = synthetic_examples(days_before(END_DS, TRAINING_DAYS + 1), 60, seed=7)
    # The evaluation day: the volume policy moved everything to push at night.
    shifted = synthetic_examples([END_DS], 60, seed=8)
    shifted["channel"] = "push"
    shifted["local_send_hour"] = shifted["local_send_hour"] % 3 + 1
    write_warehouse(home.settings.warehouse_path, history)
    write_warehouse(home.settings.warehouse_path, shifted)

    for node_id in (engagement.EXAMPLE_GEN, engagement.STATISTICS_GEN):
        home.node(node_id, "day_before", end_ds=previous_day)
    run_id = "day_of_drift"
    for node_id in NODES[: NODES.index(engagement.EXAMPLE_VALIDATOR)]:
        home.node(node_id, run_id)
    validator = home.node(engagement.EXAMPLE_VALIDATOR, run_id, expect_rc=run_component.EXIT_GATE)

    assert f"drift measured against the previous span {previous_day}" in validator.stdout
    assert "drift channel: l_infty" in validator.stdout and "ABOVE THRESHOLD" in validator.stdout
    error = validator.stderr.split("ERROR:")[-1]
    assert "[eval] feature 'channel' (drift: evaluation day vs the previous span)" in error
    assert "[eval] feature 'local_send_hour' (drift" in error
    assert "above the threshold" in error
    summary = home.tfdv_summary(run_id)
    assert summary["status"] == "fail"
    assert summary["drift_baseline_ds"] == previous_day.isoformat()


# --- the evaluation summaries of the model report (/reports/models) -----------------


def _evaluation_summary(home: Home, run_id: str) -> dict:
    pipeline_run_id = node_runner.sanitize_run_id(run_id)
    return json.loads(
        model_evaluations.summary_path(home.settings, "engagement", pipeline_run_id).read_text()
    )


def test_evaluator_writes_the_summary_of_the_first_model(first_run: dict) -> None:
    home: Home = first_run["home"]
    assert "evaluation summary written to" in first_run["outputs"][engagement.EVALUATOR].stdout
    summary = _evaluation_summary(home, FIRST_RUN)
    assert summary["blessed"] is True and summary["reasons"] == [] and summary["failures"] == []
    assert summary["baseline"] is None and summary["metrics"]["baseline"] == {}
    assert summary["run_id"] == FIRST_RUN and summary["end_ds"] == END_DS.isoformat()
    (record,) = registry.records(home.settings, "engagement")
    assert summary["pipeline_run_id"] == record["pipeline_run_id"]  # how the report joins them
    assert summary["train_window"] == record["train_window"]
    assert summary["eval_window"] == record["eval_window"]
    candidate = summary["metrics"]["candidate"]
    assert {"overall", "channel=push", "channel=email", "platform=ios"} <= set(candidate)
    assert candidate["overall"]["auc"] == pytest.approx(record["auc"])

    # TFMA's calibration histogram, re-binned: every example, in ascending bins of about
    # equal weight whose weighted means are the slice's mean prediction and label
    for slice_name in ("overall", "channel=push"):
        bins = summary["calibration"]["candidate"][slice_name]
        metrics = candidate[slice_name]
        weights = [b["weight"] for b in bins]
        assert 5 <= len(bins) <= evaluation_summary.CALIBRATION_BINS, slice_name
        assert sum(weights) == metrics["example_count"]
        assert max(weights) <= 3 * metrics["example_count"] / len(bins)
        assert all(a["upper"] <= b["lower"] for a, b in zip(bins, bins[1:], strict=False))
        for mean in ("mean_prediction", "mean_label"):
            weighted = sum(b[mean] * b["weight"] for b in bins) / sum(weights)
            assert weighted == pytest.approx(metrics[mean], rel=1e-3), (slice_name, mean)

    # the builder on the artifacts in ML Metadata says what the hook wrote
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(home.settings.metadata_path)
    with metadata.Metadata(config) as m:
        evaluator = node_runner.successful_execution(
            m, "engagement", summary["pipeline_run_id"], engagement.EVALUATOR
        )
    rebuilt = evaluation_summary.build_summary(
        model="engagement",
        run_id=FIRST_RUN,
        pipeline_run_id=summary["pipeline_run_id"],
        end_ds=END_DS,
        training_days=TRAINING_DAYS,
        evaluation=evaluator.outputs["evaluation"][0],
        blessing=evaluator.outputs["blessing"][0],
        config=config,
    )
    assert json.loads(json.dumps(rebuilt)) == summary | {"evaluated_at": rebuilt["evaluated_at"]}


def test_summary_of_the_refused_model_names_the_failure_and_the_baseline(first_run: dict) -> None:
    """What test_second_run_against_baseline_pushes_nothing's run left (it runs before)."""
    home: Home = first_run["home"]
    path = model_evaluations.summary_path(
        home.settings, "engagement", node_runner.sanitize_run_id(SECOND_RUN)
    )
    if not path.exists():
        pytest.skip("the second run (test_second_run_against_baseline_pushes_nothing) did not run")
    summary = _evaluation_summary(home, SECOND_RUN)
    assert summary["blessed"] is False
    assert any(r.startswith("[overall] auc = ") and ">= 0.99" in r for r in summary["reasons"])
    # the floor applies to every gated slice, so the channels may fail it too, in any order
    floor_failures = [f for f in summary["failures"] if f["threshold"] == ">= 0.99"]
    assert {f["metric"] for f in floor_failures} == {"auc"}
    failure = next(f for f in floor_failures if f["slice"] == "overall")
    assert failure["is_change"] is False and failure["value"] < 0.99
    first = _evaluation_summary(home, FIRST_RUN)
    assert summary["baseline"]["pipeline_run_id"] == first["pipeline_run_id"]
    assert "/Trainer/model/" in summary["baseline"]["uri"]
    # the baseline is the first model, on the same evaluation day
    baseline = summary["metrics"]["baseline"]
    assert baseline["overall"]["auc"] == pytest.approx(
        first["metrics"]["candidate"]["overall"]["auc"]
    )
    assert set(baseline) == set(summary["metrics"]["candidate"])
    assert summary["calibration"]["baseline"]["overall"]
