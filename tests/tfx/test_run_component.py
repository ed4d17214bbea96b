"""run_component's CLI contract, run ids, gates and the registry (no pipeline run)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.tfx

pytest.importorskip("tfx")

from tensorflow_metadata.proto.v0 import anomalies_pb2  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402

from notiflow import registry  # noqa: E402
from tfx_pipelines import run_component, serving_check  # noqa: E402
from tfx_pipelines.common import gates, node_runner  # noqa: E402

RUN_ARGS = [
    "--pipeline",
    "engagement",
    "--run-id",
    "manual__2026-01-10T00:00:00+00:00",
    "--end-ds",
    "2026-01-09",
]


def test_sanitize_run_id_keeps_airflow_ids_readable() -> None:
    assert (
        node_runner.sanitize_run_id("manual__2026-11-25T10:00:00+00:00")
        == "manual__2026-11-25T10_00_00_00_00"
    )
    assert node_runner.sanitize_run_id("scheduled__x.y-z") == "scheduled__x.y-z"
    with pytest.raises(node_runner.NodeRunError):
        node_runner.sanitize_run_id(" :: ")


def test_missing_arguments_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run_component.main(["--pipeline", "engagement", "--node", "Trainer"])
    assert info.value.code == 2
    assert "--run-id, --end-ds" in capsys.readouterr().err


def test_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_component.main(
            [
                "--pipeline",
                "engagement",
                "--node",
                "Trainer",
                "--run-id",
                "r",
                "--end-ds",
                "2026-13-01",
            ]
        )
    assert "not a date YYYY-MM-DD" in capsys.readouterr().err


def test_unknown_node_fails_listing_the_nodes(settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_component.main(["--node", "Trainr", *RUN_ARGS]) == 1
    err = capsys.readouterr().err
    assert "ERROR:" in err and "'Trainr'" in err and "'Trainer'" in err


def test_node_refuses_to_run_before_its_upstream(
    settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_component.main(["--node", "Transform", *RUN_ARGS]) == 1
    err = capsys.readouterr().err
    assert "upstream node(s) ['ExampleGen', 'ExampleValidator', 'SchemaGen']" in err
    assert "have not succeeded in this run" in err


def test_unwired_warehouse_target_is_a_clear_error(
    settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTIFLOW_WAREHOUSE_TARGET", "bigquery")
    monkeypatch.setenv("NOTIFLOW_BIGQUERY_PROJECT", "example-project")
    assert run_component.main(["--node", "ExampleGen", *RUN_ARGS]) == run_component.EXIT_ERROR
    assert "warehouse_target='bigquery'" in capsys.readouterr().err


def _anomalies_artifact(tmp_path: Path, per_split: dict[str, anomalies_pb2.Anomalies]):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    artifact.split_names = artifact_utils.encode_split_names(sorted(per_split))
    for split, anomalies in per_split.items():
        split_dir = Path(artifact_utils.get_split_uri([artifact], split))
        split_dir.mkdir(parents=True)
        (split_dir / gates.ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())
    return artifact


def test_anomalies_gate_names_each_feature_and_reason(tmp_path: Path) -> None:
    bad = anomalies_pb2.Anomalies()
    info = bad.anomaly_info["channel"]
    info.reason.add(
        short_description="Unexpected string values",
        description="Examples contain values missing from the schema: sms (~12%).",
    )
    bad.anomaly_info["platform"].reason.add(
        short_description="Column dropped", description="Column is completely missing"
    )
    artifact = _anomalies_artifact(tmp_path, {"train": anomalies_pb2.Anomalies(), "eval": bad})
    with pytest.raises(gates.GateError) as raised:
        gates.check_anomalies(artifact)
    message = str(raised.value)
    assert (
        "[eval] feature 'channel': Unexpected string values: Examples contain values "
        "missing from the schema: sms" in message
    )
    assert "[eval] feature 'platform': Column dropped" in message
    assert "[train]" not in message


def test_anomalies_gate_passes_clean_data(tmp_path: Path) -> None:
    clean = anomalies_pb2.Anomalies()
    artifact = _anomalies_artifact(tmp_path, {"train": clean, "eval": clean})
    assert gates.check_anomalies(artifact) == []


def test_register_push_is_idempotent_per_version(settings) -> None:
    record = {
        "model": "engagement",
        "version": "100",
        "path": "/s/100",
        "auc": 0.7,
        "run_id": "r",
        "pushed_at": "t",
    }
    assert registry.register_push(settings, record)
    assert not registry.register_push(settings, dict(record, auc=0.8))  # a retried Pusher
    assert registry.register_push(settings, dict(record, version="101"))
    assert [r["version"] for r in registry.records(settings, "engagement")] == ["100", "101"]
    assert registry.registry_path(settings, "engagement").parent == (
        settings.serving_dir / "engagement"
    )


def test_latest_version_dir_is_the_newest_saved_model(tmp_path: Path) -> None:
    for version in ("99", "1000", "200"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "saved_model.pb").write_bytes(b"")
    (tmp_path / "5000").mkdir()  # an unfinished push: no saved_model.pb
    assert serving_check.latest_version_dir(tmp_path).name == "1000"
    with pytest.raises(FileNotFoundError):
        serving_check.latest_version_dir(tmp_path / "none")


def test_registry_record_windows() -> None:
    record = registry.registry_record(
        model_name="engagement",
        pushed={"version": "7", "path": "/s/engagement/7"},
        metrics={"overall": {"auc": 0.71, "example_count": 10.0}, "channel=push": {"auc": 0.6}},
        end_ds=datetime.date(2026, 1, 9),
        training_days=7,
        run_id="manual__x",
        pipeline_run_id="manual__x",
        pushed_at=datetime.datetime(2026, 1, 10, tzinfo=datetime.UTC),
    )
    assert record["auc"] == 0.71
    assert record["eval_window"] == {"start": "2026-01-09", "end": "2026-01-09"}
    assert record["train_window"] == {"start": "2026-01-02", "end": "2026-01-08"}
    assert record["pushed_at"] == "2026-01-10T00:00:00+00:00"
