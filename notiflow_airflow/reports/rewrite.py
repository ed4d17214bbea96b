"""Point GX Data Docs at the vendored assets instead of CDNs, when they are served.

Rewriting at serve time (not as a post-build step) keeps every page GX regenerates
correct without a hook in each checkpoint. URLs are made relative to the page, so
the pages work under any mount point (``/reports`` in Airflow, ``/`` in tests).
"""

from __future__ import annotations

import re

from notiflow_airflow.reports.vendor import CDN_URLS

# GX's navbar and dark-mode CSS load their logo from S3; the site ships a copy.
GX_ASSETS_HOST = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
GX_LOCAL_LOGO = "static/images/logo-long.png"

_URL_END = r"(?=[\"')\s?#])"
_CDN = re.compile(
    "(" + "|".join(re.escape(u) for u in sorted(CDN_URLS, key=len, reverse=True)) + ")" + _URL_END
)
_GX_ASSET = re.compile(re.escape(GX_ASSETS_HOST) + r"[A-Za-z0-9_./-]+(\?[^\"')\s]*)?")
# Subresources a page loads by itself (not links a reader may follow).
EXTERNAL_SUBRESOURCE = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


def rewrite_data_docs(text: str, *, app_root: str, site_root: str) -> str:
    """``text`` (an HTML or CSS file of the Data Docs site) with CDN URLs made local.

    ``app_root``: relative URL from the file to the reports app's root (ends with "/");
    ``site_root``: relative URL from the file to the Data Docs site's root.
    """
    text = _CDN.sub(lambda m: f"{app_root}static/vendor/{CDN_URLS[m.group(1)]}", text)
    return _GX_ASSET.sub(f"{site_root}{GX_LOCAL_LOGO}", text)


def external_subresources(html: str) -> list[str]:
    """The tags of ``html`` that would load something from another host."""
    return [m.group(0) for m in EXTERNAL_SUBRESOURCE.finditer(html)]
