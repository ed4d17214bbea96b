"""The reports web app: data-quality runs by layer and day, the notification plans, the
models' versions and evaluations, GX Data Docs, dbt docs, TFDV.

A FastAPI app that Airflow's API server mounts at ``/reports`` through the notiflow
plugin (:mod:`notiflow_airflow.reports.plugin`), so the reports sit inside the Airflow UI and
behind its login. It can also run on its own (tests): ``create_app(settings)``.

Every page is rendered with autoescaping Jinja2 and styled by vendored Bootstrap; served
report files are confined to their folder (no path traversal) and sent with a
Content-Security-Policy that allows this origin only, so no page fetches from the network.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from notiflow.settings import Settings
from notiflow_airflow.reports import charts, models, plans, results
from notiflow_airflow.reports.rewrite import rewrite_data_docs

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters.update(
    num=charts.format_number, pct=charts.format_percent, metric=models.format_metric
)
# Scripts inline and eval: GX pages and dbt docs need both; hosts: this origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'; form-action 'self'"
)


class LoginRequired(Exception):
    """Raised by an auth dependency: send the browser to ``login_url``."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


AuthDependency = Callable[[Request], Awaitable[None]]


def create_app(settings: Settings | None = None, *, auth: AuthDependency | None = None) -> FastAPI:
    """The reports app. ``auth`` guards every page but the vendored assets."""
    settings = settings or Settings.load()
    app = FastAPI(title="notiflow reports", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def content_security_policy(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.login_url, status_code=303)

    # Vendored third-party assets are public; everything else needs the login.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    router = APIRouter(dependencies=[Depends(auth)] if auth else [])
    _add_pages(router, settings)
    app.include_router(router)
    return app


def _page(template: str, *, root: str, status_code: int = 200, **context) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(root=root, **context)
    return HTMLResponse(html, status_code=status_code)


def _busy(root: str, exc: Exception) -> HTMLResponse:
    return _page("busy.html", root=root, detail=str(exc), status_code=503)


def _add_pages(router: APIRouter, settings: Settings) -> None:
    @router.get("/", response_class=HTMLResponse)
    def landing() -> HTMLResponse:
        try:
            overview = results.overview(settings)
        except results.WarehouseBusy as exc:
            return _busy("", exc)
        days = sorted({ld.ds for ld in overview.layer_days}, reverse=True)
        layers = list(results.LAYERS) + sorted(
            {ld.layer for ld in overview.layer_days} - set(results.LAYERS)
        )
        return _page(
            "landing.html",
            root="",
            latest=overview.latest,
            days=days,
            layers=layers,
            cells={(ld.ds, ld.layer): ld for ld in overview.layer_days},
            tfdv=results.tfdv_reports(settings)[:10],
            data_docs=(settings.data_docs_dir / "index.html").is_file(),
            dbt_docs=(settings.reports_dir / "dbt-docs" / "index.html").is_file(),
        )

    @router.get("/quality/{ds}/{layer}", response_class=HTMLResponse)
    def quality(ds: dt.date, layer: str) -> HTMLResponse:
        try:
            run_id, rows = results.layer_day(settings, ds, layer)
        except results.WarehouseBusy as exc:
            return _busy("../../", exc)
        return _page(
            "quality.html",
            root="../../",
            ds=ds,
            layer=layer,
            run_id=run_id,
            rows=rows,
            status_code=200 if rows else 404,
        )

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(run_id: str) -> HTMLResponse:
        """One Airflow run's expectations (the plugin links it from each DAG run)."""
        try:
            rows = results.run_results(settings, run_id)
        except results.WarehouseBusy as exc:
            return _busy("../", exc)
        return _page("run.html", root="../", run_id=run_id, rows=rows)

    @router.get("/plans", response_class=HTMLResponse)
    def plan_list() -> HTMLResponse:
        """Every plan day, newest first; the plan gate's verdicts where the warehouse tells
        them (a busy warehouse leaves them out rather than the page)."""
        try:
            layer_days = results.overview(settings).layer_days
            gates, gates_busy = {ld.ds: ld.status for ld in layer_days if ld.layer == "plan"}, None
        except results.WarehouseBusy as exc:
            gates, gates_busy = {}, str(exc)
        days = plans.read_days(settings, gates)
        evaluated = [day for day in days if day.evaluation is not None]
        return _page(
            "plans.html",
            root="",
            days=days,
            evaluated=evaluated,
            gates_busy=gates_busy,
            opens_chart=plans.opens_chart(days) if evaluated else None,
            active_chart=plans.active_chart(days) if evaluated else None,
            sends_chart=plans.sends_chart(days),
        )

    @router.get("/plans/{ds}", response_class=HTMLResponse)
    def plan_day(ds: dt.date) -> HTMLResponse:
        """One day's plan, its gate and, once its labels matured, what it did."""
        try:
            gate_run, gate_rows = results.layer_day(settings, ds, "plan")
            gates_busy = None
        except results.WarehouseBusy as exc:
            gate_run, gate_rows, gates_busy = None, [], str(exc)
        gate_failed = [r for r in gate_rows if not r.success and r.severity == "critical"]
        gate = ("fail" if gate_failed else "pass") if gate_rows else None
        day = plans.read_day(settings, ds, gate)
        if day is None:
            what, path = "Plan day", ds.isoformat()
            return _page("missing.html", root="../", what=what, path=path, status_code=404)
        return _page(
            "plan_day.html",
            root="../",
            day=day,
            gate_run=gate_run,
            gate_failed=gate_failed,
            gates_busy=gates_busy,
            hour_chart=plans.hour_chart(day) if day.sends_by_hour else None,
        )

    @router.get("/models", response_class=HTMLResponse)
    def model_list() -> HTMLResponse:
        """Every model: its live version, its history and its evaluations."""
        return _page("models.html", root="", reports=models.read_models(settings), single=False)

    @router.get("/models/{model}", response_class=HTMLResponse)
    def model_page(model: str) -> HTMLResponse:
        if model not in models.model_names():
            return _page("missing.html", root="../", what="Model", path=model, status_code=404)
        report = models.read_model(settings, model)
        return _page("models.html", root="../", reports=[report], single=True)

    @router.get("/models/{model}/{pipeline_run_id}", response_class=HTMLResponse)
    def model_evaluation(model: str, pipeline_run_id: str) -> HTMLResponse:
        """One evaluation: the verdict and why, the metrics by slice against the baseline,
        the calibration."""
        found = models.read_evaluation(settings, model, pipeline_run_id)
        if found is None:
            what, path = "Model evaluation", f"{model}/{pipeline_run_id}"
            return _page("missing.html", root="../../", what=what, path=path, status_code=404)
        report, evaluation = found
        readable = isinstance(evaluation, models.Evaluation)
        return _page(
            "model_evaluation.html",
            root="../../",
            report=report,
            pipeline_run_id=pipeline_run_id,
            evaluation=evaluation if readable else None,
            unreadable=None if readable else evaluation,
            calibration_chart=models.calibration_chart(evaluation) if readable else None,
        )

    @router.get("/tfdv/", response_class=HTMLResponse)
    def tfdv_list() -> HTMLResponse:
        return _page("tfdv.html", root="../", reports=results.tfdv_reports(settings))

    @router.get("/tfdv/{path:path}")
    def tfdv_file(path: str) -> Response:
        return _serve(settings.reports_dir / "tfdv", path, what="TFDV report", mount="tfdv")

    @router.get("/dbt-docs/{path:path}")
    def dbt_docs(path: str) -> Response:
        return _serve(settings.reports_dir / "dbt-docs", path, what="dbt docs", mount="dbt-docs")

    @router.get("/data-docs/{path:path}")
    def data_docs(path: str) -> Response:
        return _serve(
            settings.data_docs_dir, path, what="GX Data Docs", mount="data-docs", rewrite=True
        )


def _serve(root: Path, path: str, *, what: str, mount: str, rewrite: bool = False) -> Response:
    """A file under ``root``; never one outside it (``..``, absolute paths, symlinks out)."""
    depth = path.count("/")  # folders between the mount and the file
    app_root = "../" * (depth + 1)
    if path == "" or path.endswith("/"):
        path += "index.html"
    root = root.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        return _page("missing.html", root=app_root, what=what, path=path, status_code=404)
    if target.is_dir():
        return RedirectResponse(f"{target.name}/", status_code=307)
    if not target.is_file():
        return _page("missing.html", root=app_root, what=what, path=path, status_code=404)
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if rewrite and target.suffix in (".html", ".css"):
        site_root = "../" * depth
        text = rewrite_data_docs(
            target.read_text(encoding="utf-8"), app_root=app_root, site_root=site_root
        )
        return Response(text, media_type=media_type)
    return Response(target.read_bytes(), media_type=media_type)
