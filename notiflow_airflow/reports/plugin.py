"""The notiflow Airflow plugin: the reports app inside the Airflow 3 UI.

Registered through the ``airflow.plugins`` entry point (pyproject.toml). Airflow's API
server mounts :func:`notiflow_airflow.reports.app.create_app` at ``/reports`` (``fastapi_apps``)
and the UI shows a top-level "Reports" nav item that frames it (``external_views`` with
a ``url_route``: the page is ``/plugin/reports``), and a "Data quality" tab on each DAG
run that frames ``/reports/runs/<run_id>``.

Login: the UI keeps its JWT in the ``_token`` cookie (httponly, path ``/``), which the
browser also sends to ``/reports``; every page checks it with Airflow's own auth manager
(as Airflow's REST API does) and sends a browser without a valid token to the login page.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import HTTPException, Request

from notiflow_airflow.reports.app import LoginRequired, create_app

URL_PREFIX = "/reports"
RESOURCE_NAME = "notiflow-reports"


async def require_airflow_login(request: Request) -> None:
    """Let through a request carrying a valid Airflow JWT (cookie or bearer) of a viewer."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    auth_manager = get_auth_manager()
    header = request.headers.get("authorization", "")
    token = (
        header[len("bearer ") :]
        if header.lower().startswith("bearer ")
        else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    )
    try:
        user = await resolve_user_from_token(token)
    except HTTPException:
        raise LoginRequired(auth_manager.get_url_login(next_url=str(request.url))) from None
    if not auth_manager.is_authorized_custom_view(
        method="GET", resource_name=RESOURCE_NAME, user=user
    ):
        raise HTTPException(status_code=403, detail="Forbidden: no access to the reports")


class NotiflowReportsPlugin(AirflowPlugin):
    name = "notiflow_reports"
    fastapi_apps = [
        {
            "app": create_app(auth=require_airflow_login),
            "url_prefix": URL_PREFIX,
            "name": "notiflow reports",
        }
    ]
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
