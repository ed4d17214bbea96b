"""The reports' login: the Airflow UI's own.

The UI keeps its JWT in the ``_token`` cookie (httponly, path ``/``), which the browser
also sends to ``/reports``; every page checks it with Airflow's auth manager (as
Airflow's REST API does) and sends a browser without a valid token to the login page.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from notiflow_airflow.reports.app import LoginRequired

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
