"""The notiflow Airflow plugin: the reports app inside the Airflow 3 UI.

Registered through the ``airflow.plugins`` entry point (pyproject.toml). Airflow's API
server mounts the reports app (:func:`notiflow_airflow.reports.app.create_app`, behind
the UI's login: :mod:`notiflow_airflow.reports.auth`) at ``/reports`` (``fastapi_apps``)
and the UI shows a top-level "Reports" nav item that frames it (``external_views`` with
a ``url_route``: the page is ``/plugin/reports``), and a "Data quality" tab on each DAG
run that frames ``/reports/runs/<run_id>``.

Every Airflow process loads the plugins, every task's process included (ObjectStoragePath
asks them for lineage readers), so this module imports nothing heavy: the app, its
pandas-backed pages and FastAPI are built on the first request, in the API server only.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/reports"


class ReportsApp:
    """An ASGI app that builds the reports app on its first call and hands it every call."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            from notiflow_airflow.reports.app import create_app
            from notiflow_airflow.reports.auth import require_airflow_login

            self._app = create_app(auth=require_airflow_login)
        await self._app(scope, receive, send)


class NotiflowReportsPlugin(AirflowPlugin):
    name = "notiflow_reports"
    fastapi_apps = [{"app": ReportsApp(), "url_prefix": URL_PREFIX, "name": "notiflow reports"}]
    external_views = [
        {
            "name": "Reports",
            "href": f"{URL_PREFIX}/",
            "url_route": "reports",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/static/icon.svg",
        },
        # A "Data quality" tab on every DAG run: the expectations that run validated.
        {
            "name": "Data quality",
            "href": f"{URL_PREFIX}/runs/{{RUN_ID}}",
            "url_route": "data-quality",
            "destination": "dag_run",
        },
    ]
