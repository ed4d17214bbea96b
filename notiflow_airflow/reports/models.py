"""The model report: each model's live version, its history and every evaluation, shaped
for the pages, and the calibration chart.

Reads, for the model of every TFX pipeline (:mod:`notiflow.pipelines`; a pipeline trains
the model of its name), the model registry (:mod:`notiflow.registry`: one record per
pushed version, the newest is live) and the evaluation summaries the Evaluator hooks
write (:mod:`notiflow.model_evaluations`: one per Evaluator run, blessed or not). A
version is joined to the evaluation that made it by ``pipeline_run_id``.

A page must not fail on a file it cannot read: a summary or registry that does not
parse is named on the page, a field that is missing or odd shows as a dash or as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from markupsafe import Markup, escape

from notiflow import model_evaluations, pipelines, registry
from notiflow.model_evaluations import Unreadable
from notiflow.settings import Settings
from notiflow_airflow.reports import charts
from notiflow_airflow.reports.charts import number

OVERALL = "overall"
CHANNEL_KEY = "channel"  # the slices the calibration chart and table show, beside overall
CANDIDATE, BASELINE = "candidate", "baseline"


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _records(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def slice_key(name: str) -> tuple[str, str]:
    """("channel", "push") of "channel=push"; ("", "") of the overall slice."""
    key, _, value = name.partition("=")
    return ("", "") if name == OVERALL else (key, value)


def slice_order(names: Iterable[str]) -> list[str]:
    """Overall first, then channels in the domain's order, then the other slices by key."""
    by_key: dict[str, list[str]] = {}
    for name in set(names):
        key, value = slice_key(name)
        by_key.setdefault(key, []).append(value)
    ordered = [OVERALL] if "" in by_key else []
    for key in sorted(by_key.keys() - {""}, key=lambda k: (k != CHANNEL_KEY, k)):
        values = by_key[key]
        values = charts.channel_order(values) if key == CHANNEL_KEY else sorted(values)
        ordered += [f"{key}={value}" for value in values]
    return ordered


def format_metric(value: Any, name: str, signed: bool = False) -> str:
    """The Jinja ``metric`` filter: counts whole, other metrics to four decimals."""
    return charts.format_number(value, 0 if name.endswith("count") else 4, signed)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One Evaluator run's summary, and the version it pushed (its registry record)."""

    summary: dict
    pushed: dict | None = None

    @property
    def pipeline_run_id(self) -> str:
        return str(self.summary.get("pipeline_run_id"))

    @property
    def blessed(self) -> bool:
        return self.summary.get("blessed") is True

    @property
    def reasons(self) -> list[str]:
        return _texts(self.summary.get("reasons"))

    @property
    def failures(self) -> list[dict]:
        return _records(self.summary.get("failures"))

    @property
    def baseline(self) -> dict | None:
        return _mapping(self.summary.get("baseline")) or None

    def metrics(self, side: str = CANDIDATE) -> dict[str, dict]:
        by_slice = _mapping(_mapping(self.summary.get("metrics")).get(side))
        return {name: _mapping(values) for name, values in by_slice.items()}

    @property
    def has_baseline_metrics(self) -> bool:
        return bool(self.metrics(BASELINE))

    @property
    def slices(self) -> list[str]:
        return slice_order([*self.metrics(CANDIDATE), *self.metrics(BASELINE)])

    @property
    def channel_slices(self) -> list[str]:
        return [s for s in self.slices if slice_key(s)[0] == CHANNEL_KEY]

    @property
    def metric_names(self) -> list[str]:
        """The pipeline's reported metrics that were computed, in its order, then the rest."""
        computed = {m for values in self.metrics().values() for m in values}
        reported = [m for m in _texts(self.summary.get("reported_metrics")) if m in computed]
        return reported + sorted(computed - set(reported))

    @property
    def headline(self) -> str | None:
        names = self.metric_names
        return names[0] if names else None

    def value(self, slice_name: str, metric: str, side: str = CANDIDATE) -> Any:
        return self.metrics(side).get(slice_name, {}).get(metric)

    def change(self, slice_name: str, metric: str) -> float | None:
        """The candidate's value minus the baseline's, when both are numbers."""
        candidate = number(self.value(slice_name, metric))
        baseline = number(self.value(slice_name, metric, BASELINE))
        return None if candidate is None or baseline is None else candidate - baseline

    def calibration_ratio(self, slice_name: str, side: str = CANDIDATE) -> float | None:
        """Mean prediction over mean label: TFMA's ``calibration``, else computed."""
        ratio = number(self.value(slice_name, "calibration", side))
        if ratio is not None:
            return ratio
        prediction = number(self.value(slice_name, "mean_prediction", side))
        label = number(self.value(slice_name, "mean_label", side))
        return None if prediction is None or not label else prediction / label

    @property
    def calibration_slices(self) -> list[str]:
        """Overall and the channels, where the candidate's calibration is known."""
        shown = [OVERALL, *self.channel_slices]
        return [s for s in shown if self.calibration_ratio(s) is not None]

    def failed(self, slice_name: str, metric: str) -> list[dict]:
        """TFMA's failed thresholds on this slice and metric."""
        return [
            f for f in self.failures if (f.get("slice"), f.get("metric")) == (slice_name, metric)
        ]

    def reasons_about(self, slice_name: str) -> list[str]:
        """The reasons that name this slice (``[channel=push] ...``, as gates write them)."""
        return [r for r in self.reasons if r.startswith(f"[{slice_name}]")]

    def calibration(self, side: str = CANDIDATE) -> dict[str, list[dict]]:
        by_slice = _mapping(_mapping(self.summary.get("calibration")).get(side))
        return {name: _records(bins) for name, bins in by_slice.items() if _records(bins)}

    @property
    def extra_metrics(self) -> dict:
        return _mapping(self.summary.get("extra_metrics"))


@dataclasses.dataclass(frozen=True)
class ModelReport:
    """A model's registry history (newest first) and evaluations (newest first)."""

    name: str
    history: list[dict]
    evaluations: list[Evaluation]
    unreadable: list[Unreadable]
    registry_error: str | None = None

    @property
    def live(self) -> dict | None:
        return self.history[0] if self.history else None

    @property
    def metric_names(self) -> list[str]:
        """The history's metrics: the newest evaluation's order, then any other recorded."""
        recorded = {m for record in self.history for m in _mapping(record.get("metrics"))}
        order = self.evaluations[0].metric_names if self.evaluations else []
        known = [m for m in order if m in recorded]
        return known + sorted(recorded - set(known))

    @staticmethod
    def recorded(record: dict, metric: str) -> Any:
        """A registry record's value of ``metric`` (its overall slice)."""
        return _mapping(record.get("metrics")).get(metric)

    def evaluation_of(self, pipeline_run_id: Any) -> Evaluation | None:
        return next((e for e in self.evaluations if e.pipeline_run_id == pipeline_run_id), None)

    def version_of(self, pipeline_run_id: Any) -> dict | None:
        """The registry record of the version run ``pipeline_run_id`` pushed, if any."""
        return next((r for r in self.history if r.get("pipeline_run_id") == pipeline_run_id), None)

    @property
    def empty(self) -> bool:
        return not (self.history or self.evaluations or self.unreadable or self.registry_error)


def model_names() -> list[str]:
    return pipelines.pipeline_names()


def _history(settings: Settings, name: str) -> tuple[list[dict], str | None]:
    try:
        records = registry.records(settings, name)
    except (OSError, ValueError) as error:
        return [], f"{registry.registry_path(settings, name)}: not valid JSON lines ({error})"
    return [r for r in reversed(records) if isinstance(r, dict)], None


def read_model(settings: Settings, name: str) -> ModelReport:
    history, registry_error = _history(settings, name)
    pushed = {r.get("pipeline_run_id"): r for r in history if r.get("pipeline_run_id")}
    summaries, unreadable = model_evaluations.read_summaries(settings, name)
    evaluations = [Evaluation(s, pushed.get(s.get("pipeline_run_id"))) for s in summaries]
    return ModelReport(name, history, evaluations, unreadable, registry_error)


def read_models(settings: Settings) -> list[ModelReport]:
    return [read_model(settings, name) for name in model_names()]


def read_evaluation(
    settings: Settings, name: str, pipeline_run_id: str
) -> tuple[ModelReport, Evaluation | Unreadable] | None:
    """The model and the evaluation of run ``pipeline_run_id`` (or why its file is not a
    summary); None when there is no such model or evaluation."""
    if name not in model_names():
        return None
    try:
        path = model_evaluations.summary_path(settings, name, pipeline_run_id)
    except ValueError:
        return None
    if not path.is_file():
        return None
    model = read_model(settings, name)
    summary = model_evaluations.read_summary(path)
    if isinstance(summary, Unreadable):
        return model, summary
    return model, model.evaluation_of(pipeline_run_id) or Evaluation(summary)


# -- the calibration chart -----------------------------------------------------------

OVERALL_COLOR, BASELINE_COLOR, DIAGONAL_COLOR = "#222222", "#9c9c9c", "#bbbbbb"


@dataclasses.dataclass(frozen=True)
class _Frame:
    """A plot area over 0 to ``top`` on both axes: predictions and labels are both rates."""

    top: float
    step: float
    width: int = 640
    height: int = 400
    left: int = 64
    right: int = 16
    upper: int = 34  # room for the legend
    lower: int = 44  # room for the ticks and the axis title

    def x(self, value: float) -> float:
        return self.left + value / self.top * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        return self.height - self.lower - value / self.top * (self.height - self.upper - self.lower)


def _axes(frame: _Frame) -> list[str]:
    parts = charts.y_grid(frame)
    bottom = frame.height - frame.lower
    digits = charts.step_digits(frame.step)
    for k in range(round(frame.top / frame.step) + 1):
        value = k * frame.step
        x = frame.x(value)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.upper}" y2="{bottom}"/>'
            f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{value:,.{digits}f}</text>"
        )
    middle = (frame.upper + bottom) / 2
    parts.append(
        f'<text class="tick" x="{frame.x(frame.top / 2):.1f}" y="{bottom + 34}" '
        'text-anchor="middle">mean prediction</text>'
        f'<text class="tick" x="14" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.1f})">observed rate (mean label)</text>'
    )
    return parts


def _bins_points(bins: list[dict]) -> list[tuple[float, float, dict]]:
    points = []
    for b in bins:
        prediction, label = number(b.get("mean_prediction")), number(b.get("mean_label"))
        if prediction is not None and label is not None:
            points.append((prediction, label, b))
    return points


def _bin_tip(series: str, prediction: float, label: float, b: dict) -> str:
    lower, upper = (charts.format_number(b.get(k), 3) for k in ("lower", "upper"))
    return (
        f"{series}: predicted {prediction:.3f}, observed {label:.3f} "
        f"({charts.format_number(b.get('weight'))} examples, predictions {lower}–{upper})"
    )


def calibration_chart(evaluation: Evaluation) -> Markup | None:
    """Mean label against mean prediction in each calibration bin: the overall slice and
    each channel of the candidate, the baseline's overall slice, and the diagonal a
    calibrated model lies on. None for a model without a calibration plot."""
    candidate = evaluation.calibration(CANDIDATE)
    channels = [s for s in evaluation.channel_slices if s in candidate]
    series = [(OVERALL, OVERALL, OVERALL_COLOR, candidate.get(OVERALL, []))]
    colors = charts.channel_colors(slice_key(s)[1] for s in channels)
    series += [(s, slice_key(s)[1], colors[slice_key(s)[1]], candidate[s]) for s in channels]
    baseline = evaluation.calibration(BASELINE).get(OVERALL, [])
    points = {name: _bins_points(bins) for name, _, _, bins in series}
    baseline_points = _bins_points(baseline)
    every = [v for p in [*points.values(), baseline_points] for x, y, _ in p for v in (x, y)]
    if not every:
        return None
    top, step = charts.nice_top(min(max(every), 1.0))
    frame = _Frame(top, step)
    parts = _axes(frame)
    parts.append(
        f'<line class="diagonal" x1="{frame.x(0):.1f}" y1="{frame.y(0):.1f}" '
        f'x2="{frame.x(top):.1f}" y2="{frame.y(top):.1f}" stroke="{DIAGONAL_COLOR}" '
        'stroke-dasharray="5 4"/>'
    )
    for x, y, b in baseline_points:
        parts.append(
            f'<circle class="mark calibration baseline" cx="{frame.x(x):.1f}" '
            f'cy="{frame.y(y):.1f}" r="4" fill="none" stroke="{BASELINE_COLOR}">'
            f"{charts.tip(_bin_tip('baseline, overall', x, y, b))}</circle>"
        )
    for name, _, color, _ in series:
        css = f"calibration slice-{escape(name.replace('=', '-'))}"
        pixels = [(frame.x(x), frame.y(y)) for x, y, _ in points[name]]
        parts.append(charts.path(pixels, color, css))
        for x, y, b in points[name]:
            text = _bin_tip(name, x, y, b)
            parts.append(charts.point(frame.x(x), frame.y(y), color, css, text, r=3.5))
    legend = [(label, color) for _, label, color, bins in series if bins]
    legend += [("baseline, overall", BASELINE_COLOR)] if baseline_points else []
    legend += [("calibrated (y = x)", DIAGONAL_COLOR)]
    title = (
        f"Calibration of {evaluation.summary.get('model')} on {evaluation.summary.get('end_ds')}"
    )
    return charts.svg("chart-calibration", title, frame, parts + charts.legend(frame, legend))
