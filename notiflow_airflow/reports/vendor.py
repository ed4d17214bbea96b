"""Third-party browser assets (Bootstrap, jQuery, Vega, Font Awesome...), vendored from npm.

GX Data Docs load these from CDNs; the reports app serves checked-in copies instead
(DESIGN.md §6: reports work with no network). Each file comes from the npm registry
tarball of a pinned version; ``static/vendor/manifest.json`` records the tarball's
npm integrity and each file's sha256, and a unit test verifies the files against it.

Re-vendor (e.g. after a GX upgrade adds a CDN URL) with::

    .venvs/orchestration/bin/python -m notiflow_airflow.reports.vendor

which runs ``npm pack`` for each package (npm checks the tarball's integrity),
copies the listed files and rewrites the manifest. ``--check`` only verifies.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"
REGISTRY = "https://registry.npmjs.org"

# package, version, files inside the package (only those the pages load).
PACKAGES: list[tuple[str, str, list[str]]] = [
    ("bootstrap", "4.3.1", ["dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js"]),
    ("jquery", "3.7.1", ["dist/jquery.min.js"]),
    ("popper.js", "1.12.9", ["dist/umd/popper.min.js"]),
    (
        "@fortawesome/fontawesome-free",
        "6.6.0",
        [
            "css/all.min.css",
            "webfonts/fa-brands-400.woff2",
            "webfonts/fa-regular-400.woff2",
            "webfonts/fa-solid-900.woff2",
            "webfonts/fa-v4compatibility.woff2",
        ],
    ),
    # jsdelivr's `npm/vega@5` serves the package's "jsdelivr" file of the newest 5.x.
    ("vega", "5.33.1", ["build/vega.min.js"]),
    ("vega-lite", "5.23.0", ["build/vega-lite.min.js"]),
    ("vega-embed", "6.29.0", ["build/vega-embed.min.js"]),
    ("@forevolve/bootstrap-dark", "1.1.0", ["dist/css/bootstrap-prefers-dark.css"]),
    (
        "bootstrap-datepicker",
        "1.9.0",
        ["dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js"],
    ),
    (
        "bootstrap-table",
        "1.19.1",
        [
            "dist/bootstrap-table.min.css",
            "dist/bootstrap-table.min.js",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
        ],
    ),
    (
        "bootstrap-table",
        "1.19.0",
        [
            "dist/extensions/filter-control/bootstrap-table-filter-control.css",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        ],
    ),
]


def vendor_path(package: str, version: str, file: str) -> str:
    """Where a vendored file lives, relative to the vendor directory (and its URL)."""
    return f"{package}@{version}/{file}"


# The CDN URLs GX 1.x Data Docs templates reference, and the vendored file for each.
CDN_URLS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": vendor_path(
        "bootstrap", "4.3.1", "dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": vendor_path(
        "bootstrap", "4.3.1", "dist/js/bootstrap.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": vendor_path(
        "jquery", "3.7.1", "dist/jquery.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": vendor_path(
        "popper.js", "1.12.9", "dist/umd/popper.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": vendor_path(
        "@fortawesome/fontawesome-free", "6.6.0", "css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": vendor_path("vega", "5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": vendor_path(
        "vega-lite", "5.23.0", "build/vega-lite.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": vendor_path(
        "vega-embed", "6.29.0", "build/vega-embed.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": vendor_path(
        "@forevolve/bootstrap-dark", "1.1.0", "dist/css/bootstrap-prefers-dark.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": vendor_path(
        "bootstrap-datepicker", "1.9.0", "dist/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": vendor_path(
        "bootstrap-datepicker", "1.9.0", "dist/js/bootstrap-datepicker.min.js"
    ),
    **{
        f"https://unpkg.com/bootstrap-table@{version}/{file}": vendor_path(
            "bootstrap-table", version, file
        )
        for name, version, files in PACKAGES
        if name == "bootstrap-table"
        for file in files
    },
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def check() -> list[str]:
    """Problems with the vendored files (missing, changed, unlisted); empty when all is well."""
    problems = []
    listed = set()
    for package in load_manifest()["packages"]:
        for file, digest in package["files"].items():
            relative = vendor_path(package["name"], package["version"], file)
            listed.add(relative)
            path = VENDOR_DIR / relative
            if not path.is_file():
                problems.append(f"{relative}: missing")
            elif _sha256(path) != digest:
                problems.append(f"{relative}: sha256 differs from the manifest")
    for path in VENDOR_DIR.rglob("*"):
        relative = path.relative_to(VENDOR_DIR).as_posix()
        if path.is_file() and path != MANIFEST and relative not in listed:
            problems.append(f"{relative}: not in the manifest")
    return problems


def fetch() -> None:
    """Download every package with `npm pack`, copy the listed files, write the manifest."""
    packages = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, files in PACKAGES:
            packed = json.loads(
                subprocess.run(
                    ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", tmp],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )[0]
            entry = {
                "name": name,
                "version": version,
                "tarball": f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz",
                "integrity": packed["integrity"],
                "files": {},
            }
            with tarfile.open(Path(tmp) / packed["filename"]) as tar:
                for file in files:
                    data = tar.extractfile(f"package/{file}").read()
                    target = VENDOR_DIR / vendor_path(name, version, file)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    entry["files"][file] = hashlib.sha256(data).hexdigest()
            packages.append(entry)
    MANIFEST.write_text(json.dumps({"registry": REGISTRY, "packages": packages}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the vendored files")
    args = parser.parse_args(argv)
    if not args.check:
        fetch()
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
