"""The curated schema, drift/skew validation and the TFDV report, on small in-memory data."""

from __future__ import annotations

import ast
import datetime
import json
import re
from pathlib import Path

import pytest
from synthetic_mart import END_DS, days_before, synthetic_examples

pytestmark = pytest.mark.tfx

tfdv = pytest.importorskip("tensorflow_data_validation")

from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402

from notiflow import domain  # noqa: E402
from tfx_pipelines.common import gates, tfdv_report  # noqa: E402
from tfx_pipelines.components import data_validator  # noqa: E402
from tfx_pipelines.components.data_validator import component as data_validator_component  # noqa: E402
from tfx_pipelines.engagement import configs, features  # noqa: E402

ROWS = 600
COLUMNS = list(features.example_columns())


@pytest.fixture(scope="module")
def schema() -> schema_pb2.Schema:
    return tfdv.load_schema_text(configs.SCHEMA_FILE)


def _stats(frame):
    return tfdv.generate_statistics_from_dataframe(frame[COLUMNS].reset_index(drop=True))


@pytest.fixture(scope="module")
def clean() -> dict:
    """Statistics of a training window, the evaluation day and the day before it."""
    return {
        "train": _stats(synthetic_examples(days_before(END_DS, 3), ROWS, seed=1)),
        "eval": _stats(synthetic_examples([END_DS], ROWS, seed=2)),
        "previous": _stats(synthetic_examples([END_DS], ROWS, seed=3)),
    }


def _validate(schema, train, eval_, previous=None):
    return data_validator.validate_split_statistics(
        {"train": train, "eval": eval_}, schema, "train", "eval", previous, "TRAINING"
    )


def _shift(frame):
    """Most sends moved to push at 2-4 am, open rates divided by 4."""
    frame = frame.copy()
    frame.loc[frame.index[: int(len(frame) * 0.6)], "channel"] = "push"
    frame["local_send_hour"] = frame["local_send_hour"] % 3 + 2
    frame["user_open_rate_28d"] = frame["user_open_rate_28d"] / 4
    return frame


def _shifted_day(seed: int = 2):
    return _shift(synthetic_examples([END_DS], ROWS, seed=seed))


# --- the curated schema -----------------------------------------------------------


def test_schema_has_exactly_the_features_with_their_types(schema) -> None:
    types = {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}
    expected = {k: "BYTES" for k in features.CATEGORICAL_FEATURE_KEYS}
    expected |= {k: "INT" for k in features.INT_FEATURE_KEYS}
    expected |= {k: "FLOAT" for k in features.FLOAT_FEATURE_KEYS}
    expected[features.LABEL_KEY] = "INT"
    assert types == expected
    assert set(types) == set(features.example_columns())


def test_schema_features_are_dense_scalars_as_transform_expects(schema) -> None:
    # shape [1] + always present: Transform parses FixedLenFeature([1]) (model tests).
    for feature in schema.feature:
        assert [d.size for d in feature.shape.dim] == [1], feature.name
        assert feature.presence.min_fraction == 1.0, feature.name


def test_schema_domains_ranges_and_environments(schema) -> None:
    by_name = {f.name: f for f in schema.feature}
    domains = {d.name: set(d.value) for d in schema.string_domain}
    assert domains["channel"] == {"push", "email", "in_app"}
    assert domains["platform"] == {"ios", "android", "web"}
    # Closed sets fail on any unseen value; open sets tolerate a share (OOV bucket).
    assert not by_name["channel"].HasField("distribution_constraints")
    assert not by_name["platform"].HasField("distribution_constraints")
    assert 0 < by_name["country"].distribution_constraints.min_domain_mass < 1
    assert 0 < by_name["pin_topic"].distribution_constraints.min_domain_mass < 1
    assert (
        by_name["local_send_hour"].int_domain.min,
        by_name["local_send_hour"].int_domain.max,
    ) == (
        0,
        23,
    )
    assert (by_name["day_of_week"].int_domain.min, by_name["day_of_week"].int_domain.max) == (0, 6)
    for key in ("user_open_rate_28d", "channel_open_rate_28d", "topic_open_rate_28d"):
        assert (by_name[key].float_domain.min, by_name[key].float_domain.max) == (0.0, 1.0)
    for key in features.INT_FEATURE_KEYS:
        assert by_name[key].int_domain.HasField("min") and by_name[key].int_domain.min >= 0, key
    assert set(schema.default_environment) == {"TRAINING", "SERVING"}
    assert list(by_name[features.LABEL_KEY].not_in_environment) == ["SERVING"]
    # Drift and skew are watched on the key features; never on day_of_week, which
    # changes between consecutive days by construction.
    for key in ("channel", "local_send_hour", "user_open_rate_28d"):
        assert by_name[key].HasField("drift_comparator"), key
        assert by_name[key].HasField("skew_comparator"), key
    assert not by_name["day_of_week"].HasField("drift_comparator")


def _simulator_constants() -> dict[str, tuple]:
    # Read from the source: the simulator needs numpy 2, the TFX environment has 1.x.
    source = (Path(domain.__file__).parent / "simulator" / "world.py").read_text()
    # A name bound to the core's domain facts (`CHANNELS = domain.CHANNELS`) is read there.
    constants = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in (
                "CHANNELS",
                "COUNTRIES",
                "TOPICS",
                "AGE_BUCKETS",
            ):
                value = node.value
                if isinstance(value, ast.Tuple):
                    constants[target.id] = ast.literal_eval(value)
                elif (
                    isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name)
                    and value.value.id == "domain"
                ):
                    constants[target.id] = tuple(getattr(domain, value.attr))
    return constants


def test_simulator_vocabularies_fit_the_schema(schema) -> None:
    world = _simulator_constants()
    domains = {d.name: set(d.value) for d in schema.string_domain}
    assert set(world["CHANNELS"]) == domains["channel"]
    assert set(world["COUNTRIES"]) == domains["country"]
    assert set(world["TOPICS"]) == domains["pin_topic"]
    assert set(world["AGE_BUCKETS"]) == domains["age_bucket"]


def test_serving_environment_does_not_need_the_label(schema) -> None:
    frame = synthetic_examples([END_DS], 50, seed=4)[list(features.FEATURE_KEYS)]
    stats = tfdv.generate_statistics_from_dataframe(frame)
    assert not tfdv.validate_statistics(stats, schema, environment="SERVING").anomaly_info
    training = tfdv.validate_statistics(stats, schema, environment="TRAINING")
    assert features.LABEL_KEY in training.anomaly_info


def test_curated_schema_rejects_out_of_range_and_unknown_values(schema, clean) -> None:
    frame = synthetic_examples([END_DS], ROWS, seed=2)
    frame.loc[frame.index[:5], "local_send_hour"] = 24
    frame.loc[frame.index[:5], "user_open_rate_28d"] = 1.5
    frame.loc[frame.index[:5], "channel"] = "sms"
    frame.loc[frame.index[:5], "country"] = "NZ"  # < 5%: a new market, OOV bucket
    result = _validate(schema, clean["train"], _stats(frame))
    assert {"local_send_hour", "user_open_rate_28d", "channel"} <= set(result["eval"].anomaly_info)
    assert "country" not in result["eval"].anomaly_info


# --- drift and skew ---------------------------------------------------------------


def test_similar_days_have_no_drift_or_skew(schema, clean) -> None:
    result = _validate(schema, clean["train"], clean["eval"], clean["previous"])
    assert gates.describe_anomalies(result) == []
    measured = gates.drift_skew_measurements(result)
    assert {(m["kind"], m["feature"]) for m in measured} >= {
        ("drift", "channel"),
        ("drift", "local_send_hour"),
        ("drift", "user_open_rate_28d"),
        ("skew", "channel"),
        ("skew", "local_send_hour"),
        ("skew", "user_open_rate_28d"),
    }
    assert not any(m["exceeded"] for m in measured)
    assert all(m["threshold"] > 0 for m in measured)


def test_shift_between_spans_is_drift_with_distance_and_threshold(
    schema, clean, tmp_path: Path
) -> None:
    shifted = _stats(_shifted_day())
    # The training window shifted the same way: no skew, only drift vs the previous day.
    train = _stats(_shift(synthetic_examples(days_before(END_DS, 3), ROWS, seed=1)))
    result = _validate(schema, train, shifted, clean["previous"])
    lines = gates.describe_anomalies(result)
    drift = [line for line in lines if "(drift:" in line]
    assert {re.search(r"feature '(\w+)'", line).group(1) for line in drift} >= {
        "channel",
        "local_send_hour",
        "user_open_rate_28d",
    }
    channel = next(line for line in drift if "'channel'" in line)
    assert channel.startswith("[eval]")
    assert re.search(r"is \d\.\d+ .*above the threshold 0\.15", channel), channel
    assert not [line for line in lines if "(training/serving skew" in line]

    with pytest.raises(gates.GateError, match=r"feature 'local_send_hour' \(drift"):
        gates.check_anomalies(_anomalies_artifact(tmp_path, result))


def test_no_previous_span_means_no_drift_check(schema) -> None:
    shifted = _stats(_shifted_day())
    result = _validate(schema, shifted, shifted, previous=None)
    assert gates.describe_anomalies(result) == []
    assert gates.drift_skew_measurements(result) == [
        m for m in gates.drift_skew_measurements(result) if m["kind"] == "skew"
    ]


def test_training_serving_skew_names_features_distance_and_threshold(schema, clean) -> None:
    result = _validate(schema, clean["train"], _stats(_shifted_day()))
    lines = gates.describe_anomalies(result)
    skew = [line for line in lines if "(training/serving skew" in line]
    assert {re.search(r"feature '(\w+)'", line).group(1) for line in skew} >= {
        "channel",
        "local_send_hour",
        "user_open_rate_28d",
    }
    hour = next(line for line in skew if "'local_send_hour'" in line)
    assert "Jensen-Shannon divergence between training and serving" in hour
    assert "above the threshold 0.1" in hour
    exceeded = {m["feature"]: m for m in gates.drift_skew_measurements(result) if m["exceeded"]}
    assert exceeded["channel"]["measure"] == "l_infty"
    assert exceeded["channel"]["value"] > exceeded["channel"]["threshold"] == pytest.approx(0.15)
    assert all(m["kind"] == "skew" for m in exceeded.values())


def test_volume_drop_between_spans_is_a_dataset_anomaly(schema, clean) -> None:
    small = _stats(synthetic_examples([END_DS], ROWS // 4, seed=2))
    result = _validate(schema, clean["train"], small, clean["previous"])
    lines = gates.describe_anomalies(result)
    assert any(
        line.startswith("[eval] dataset (drift:") and "below the threshold 0.5" in line
        for line in lines
    ), lines


# --- the previous span resolver ---------------------------------------------------


def _statistics_artifact(artifact_id: int, span: int, live: bool = True):
    artifact = standard_artifacts.ExampleStatistics()
    artifact.id = artifact_id
    artifact.set_int_custom_property("test_span", span)
    artifact.mlmd_artifact.state = (
        metadata_store_pb2.Artifact.LIVE if live else metadata_store_pb2.Artifact.ABANDONED
    )
    return artifact


def test_previous_span_is_the_latest_earlier_span_within_the_gap() -> None:
    def pick(artifacts, span, **kwargs):
        return data_validator_component.previous_span_artifact(
            artifacts, span, lambda a: a.get_int_custom_property("test_span"), **kwargs
        )

    artifacts = [
        _statistics_artifact(1, 98),
        _statistics_artifact(2, 99),
        _statistics_artifact(3, 99),  # a rerun of day 99: the newest wins
        _statistics_artifact(4, 100),  # this run's own span
        _statistics_artifact(5, 101),  # a later day (backfill): never a "previous" span
        _statistics_artifact(6, 99, live=False),
    ]
    assert pick(artifacts, 100).id == 3
    assert pick(artifacts, 99).id == 1
    assert pick(artifacts, 98) is None
    assert pick([_statistics_artifact(1, 90)], 100, max_gap=7) is None


def _lineage_store(spans: list[int]):
    """In-memory MLMD: per span, ExampleGen-like Examples (span as custom property,
    as ExampleGen records it) consumed by a StatisticsGen-like execution."""
    import ml_metadata as mlmd

    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    store = mlmd.MetadataStore(config)
    examples_type = store.put_artifact_type(standard_artifacts.Examples().artifact_type)
    stats_type = store.put_artifact_type(standard_artifacts.ExampleStatistics().artifact_type)
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="Stats"))
    statistics = []
    for span in spans:
        examples = metadata_store_pb2.Artifact(type_id=examples_type, uri=f"/e/{span}")
        examples.custom_properties["span"].int_value = span
        stats = metadata_store_pb2.Artifact(
            type_id=stats_type, uri=f"/s/{span}", state=metadata_store_pb2.Artifact.LIVE
        )
        _, (_, stats_id), _ = store.put_execution(
            metadata_store_pb2.Execution(type_id=execution_type),
            [
                (examples, metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)),
                (stats, metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)),
            ],
            [],
        )
        artifact = standard_artifacts.ExampleStatistics()
        artifact.set_mlmd_artifact(store.get_artifacts_by_id([stats_id])[0])
        statistics.append(artifact)
    return store, statistics


def test_resolver_reads_the_span_of_statistics_from_their_examples() -> None:
    store, statistics = _lineage_store([20460, 20461, 20462])
    assert [data_validator.statistics_span(store, a.id) for a in statistics] == [
        20460,
        20461,
        20462,
    ]
    strategy = data_validator.PreviousSpanStatisticsStrategy(span=20462)
    (found,) = strategy.resolve_artifacts(store, {"statistics": statistics})["statistics"]
    assert found.id == statistics[1].id
    first_day = data_validator.PreviousSpanStatisticsStrategy(span=20460)
    assert first_day.resolve_artifacts(store, {"statistics": statistics}) == {"statistics": []}


# --- the report -------------------------------------------------------------------


def _anomalies_artifact(tmp_path: Path, per_split: dict[str, anomalies_pb2.Anomalies]):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    artifact.split_names = artifact_utils.encode_split_names(sorted(per_split))
    for split, anomalies in per_split.items():
        split_dir = Path(artifact_utils.get_split_uri([artifact], split))
        split_dir.mkdir(parents=True, exist_ok=True)
        (split_dir / data_validator.ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())
    return artifact


def _write(tmp_path: Path, statistics: dict, anomalies: dict) -> Path:
    out = tfdv_report.report_dir(tmp_path / "reports", "engagement", "manual__2026-01-10T06_00_00")
    return tfdv_report.write_report(
        out,
        pipeline="engagement",
        run_id="manual__2026-01-10T06:00:00+00:00",
        pipeline_run_id="manual__2026-01-10T06_00_00",
        eval_ds=END_DS,
        training_days=3,
        statistics=statistics,
        anomalies=anomalies,
        previous_span_ds=END_DS - datetime.timedelta(days=1),
        created_at=datetime.datetime(2026, 1, 10, 6, 30, tzinfo=datetime.UTC),
    )


def test_report_of_a_failed_validation(tmp_path: Path, schema, clean) -> None:
    statistics = {"train": clean["train"], "eval": _stats(_shifted_day())}
    anomalies = _validate(schema, statistics["train"], statistics["eval"], clean["previous"])
    out = _write(tmp_path, statistics, anomalies)
    assert out == tmp_path / "reports" / "tfdv" / "engagement" / "manual__2026-01-10T06_00_00"
    assert sorted(p.name for p in out.iterdir()) == ["anomalies.json", "index.html", "summary.json"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["pipeline"] == "engagement"
    assert summary["run_id"] == "manual__2026-01-10T06:00:00+00:00"
    assert summary["eval_ds"] == END_DS.isoformat()
    assert summary["train_days"] == 3
    assert summary["train_window"] == {"start": "2026-01-06", "end": "2026-01-08"}
    assert summary["status"] == "fail"
    assert summary["anomaly_count"] == tfdv_report.anomaly_count(anomalies) > 0
    assert summary["created_at"] == "2026-01-10T06:30:00+00:00"
    assert summary["drift_baseline_ds"] == "2026-01-08"
    assert summary["examples"] == {"eval": ROWS, "train": 3 * ROWS}

    details = json.loads((out / "anomalies.json").read_text())
    kinds = {(a["split"], a["feature"], a["kind"]) for a in details["anomalies"]}
    assert ("eval", "channel", "drift") in kinds and ("train", "channel", "skew") in kinds
    exceeded = [m for m in details["drift_skew"] if m["exceeded"]]
    assert exceeded and all(m["value"] > m["threshold"] for m in exceeded)

    page = (out / "index.html").read_text()
    assert "FAIL" in page and "High Linfty distance between current and previous" in page
    assert "ABOVE threshold" in page and "Feature statistics: train" in page
    for header in ("count", "missing %", "mean", "std", "min", "median", "max", "top values"):
        assert f"<th>{header}</th>" in page
    assert "push (" in page  # top values of a string feature
    _assert_self_contained(page)


def test_report_of_a_clean_validation(tmp_path: Path, schema, clean) -> None:
    anomalies = _validate(schema, clean["train"], clean["eval"], clean["previous"])
    out = _write(tmp_path, {"train": clean["train"], "eval": clean["eval"]}, anomalies)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "pass" and summary["anomaly_count"] == 0
    assert json.loads((out / "anomalies.json").read_text())["anomalies"] == []
    page = (out / "index.html").read_text()
    assert "PASS" in page and "None: every split matches the schema." in page
    _assert_self_contained(page)


def test_report_escapes_values(tmp_path: Path, schema, clean) -> None:
    frame = synthetic_examples([END_DS], 50, seed=9)
    frame.loc[frame.index[:30], "platform"] = "<script>x</script>"
    statistics = {"train": clean["train"], "eval": _stats(frame)}
    out = _write(tmp_path, statistics, _validate(schema, *statistics.values()))
    page = (out / "index.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def _assert_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=""", page), "no external resources or links"
    assert "<style>" in page
