"""The one settings object of notiflow.

Values come from the checked-in ``defaults.toml`` beside this module, overridden
by ``NOTIFLOW_<KEY>`` environment variables. This is the only module that reads
the environment; everything else receives a :class:`Settings`. It depends on the
standard library and ``notiflow.domain`` only, because it is imported in every Python
environment (orchestration, dbt and TFX). Code is found through the installed
packages; the project's other files (the dbt project, the DAG folder, the
environments) through ``project_dir`` and the paths under it, never through this
module's location.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from notiflow.domain import HOLDOUT_SHARE_DEFAULT

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "NOTIFLOW_"
WAREHOUSE_TARGETS = ("duckdb", "bigquery")
# Where TFX tasks run: the local TFX venv, or a Kubernetes pod on the tfx image each.
TFX_RUNNERS = ("local", "kubernetes")
# ML Metadata: a SQLite file (metadata_path), or MySQL (Cloud SQL) shared by every pod.
METADATA_STORES = ("sqlite", "mysql")
# Beam: in the TFX task's process, or a Dataflow job on the tfx image (its SDK container).
BEAM_RUNNERS = ("direct", "dataflow")
# Where the raw layer's days come from: the simulator, or a team's own logs in the
# landing folder (notiflow.landing).
SOURCES = ("simulator", "landing")
# Settings that take one of a few values.
_CHOICES = {
    "warehouse_target": WAREHOUSE_TARGETS,
    "source": SOURCES,
    "tfx_runner": TFX_RUNNERS,
    "metadata_store": METADATA_STORES,
    "beam_runner": BEAM_RUNNERS,
}
# The settings each choice needs (empty by default: deployment facts, not defaults).
_REQUIRED_BY = {
    ("tfx_runner", "kubernetes"): ("tfx_image",),
    ("metadata_store", "mysql"): ("metadata_mysql_host",),
    ("beam_runner", "dataflow"): (
        "gcp_project",
        "gcp_region",
        "dataflow_temp_location",
        "tfx_image",
    ),
    ("warehouse_target", "bigquery"): ("bigquery_project",),
}
# Secrets: read from the environment (a secrets backend, a Kubernetes Secret), never
# written in defaults.toml, never passed on by as_environment() nor shown in a repr.
_SECRETS = ("metadata_mysql_password",)
# Paths that resolve against project_dir (the others resolve against home).
_PROJECT_PATHS = ("home", "venvs_dir", "dbt_project_dir", "dags_dir")
# Defaults that are domain facts (notiflow.domain), not deployment choices.
_DOMAIN_DEFAULTS = {"sim_holdout_share": HOLDOUT_SHARE_DEFAULT}


class SettingsError(ValueError):
    """A setting has a value notiflow cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    project_dir: Path
    home: Path
    warehouse_target: str
    warehouse_path: Path
    source: str
    landing_dir: Path
    airflow_home: Path
    pipeline_root: Path
    metadata_path: Path
    serving_dir: Path
    planning_dir: Path
    reports_dir: Path
    gx_root: Path
    dbt_target_dir: Path
    dbt_log_dir: Path
    venvs_dir: Path
    dbt_project_dir: Path
    dags_dir: Path
    airflow_port: int
    task_retries: int
    task_retry_delay_s: int
    bigquery_project: str
    bigquery_dataset: str
    tfx_runner: str
    tfx_image: str
    kubernetes_namespace: str
    kubernetes_service_account: str
    kubernetes_home_claim: str
    metadata_store: str
    metadata_mysql_host: str
    metadata_mysql_port: int
    metadata_mysql_database: str
    metadata_mysql_user: str
    metadata_mysql_password_secret: str
    beam_runner: str
    gcp_project: str
    gcp_region: str
    dataflow_temp_location: str
    sim_users: int
    sim_pins: int
    sim_seed: int
    sim_holdout_share: float
    sim_exploration: float
    truth_path: Path
    training_days: int
    auc_floor: float
    plan_budget: int
    plan_exploration_share: float
    metadata_mysql_password: str = dataclasses.field(default="", repr=False)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        checked_in = tomllib.loads(DEFAULTS_FILE.read_text())
        if set(_SECRETS) & set(checked_in):
            raise SettingsError(f"{DEFAULTS_FILE}: secrets {sorted(_SECRETS)} come from the "
                                "environment only")  # fmt: skip
        raw: dict[str, object] = {
            **dict.fromkeys(_SECRETS, ""),
            **_DOMAIN_DEFAULTS,
            **checked_in,
        }
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(raw) - set(fields)
        if unknown:
            raise SettingsError(f"{DEFAULTS_FILE}: unknown settings {sorted(unknown)}")
        for name in fields:
            value = environ.get(ENV_PREFIX + name.upper())
            if value is not None:
                raw[name] = value

        project_dir = _resolve(Path.cwd(), raw["project_dir"])
        home = _resolve(project_dir, raw["home"])
        values: dict[str, object] = {}
        for name, field in fields.items():
            value = raw[name]
            if name == "project_dir":
                values[name] = project_dir
            elif field.type == "Path":
                base = project_dir if name in _PROJECT_PATHS else home
                values[name] = _resolve(base, value)
            elif field.type == "int":
                values[name] = _convert(int, name, value)
            elif field.type == "float":
                values[name] = _convert(float, name, value)
            else:
                values[name] = str(value)
        for name, choices in _CHOICES.items():
            if values[name] not in choices:
                raise SettingsError(
                    f"{ENV_PREFIX}{name.upper()}={values[name]!r}: expected one of {choices}"
                )
        for (name, choice), required in _REQUIRED_BY.items():
            missing = [ENV_PREFIX + r.upper() for r in required if values[name] == choice
                       and not values[r]]  # fmt: skip
            if missing:
                raise SettingsError(
                    f"{ENV_PREFIX}{name.upper()}={choice!r} needs {', '.join(missing)} set"
                )
        return cls(**values)

    # Executables of the other environments (created by `make setup`).
    @cached_property
    def dbt_executable(self) -> Path:
        return self.venvs_dir / "dbt" / "bin" / "dbt"

    @cached_property
    def tfx_python(self) -> Path:
        return self.venvs_dir / "tfx" / "bin" / "python"

    @cached_property
    def orchestration_bin(self) -> Path:
        return self.venvs_dir / "orchestration" / "bin"

    @property
    def dbt_manifest_path(self) -> Path:
        return self.dbt_target_dir / "manifest.json"

    @property
    def data_docs_dir(self) -> Path:
        return self.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site"

    def as_environment(self) -> dict[str, str]:
        """These settings as NOTIFLOW_* variables, for child processes in other environments."""
        return {
            ENV_PREFIX + f.name.upper(): str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in _SECRETS
        }

    def portable_environment(self) -> dict[str, str]:
        """:meth:`as_environment` for a process on another image (a pod): without the
        paths into this installation (``project_dir`` and what resolves against it),
        which that image sets itself. ``home`` stays: it is mounted at the same path."""
        local = {ENV_PREFIX + name.upper() for name in ("project_dir", *_PROJECT_PATHS)}
        return {
            key: value
            for key, value in self.as_environment().items()
            if key not in local - {ENV_PREFIX + "HOME"}
        }

    def dbt_environment(self) -> dict[str, str]:
        """Variables dbt's profiles.yml and runtime read (dbt cannot import this module)."""
        return {
            **self.as_environment(),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.dbt_log_dir),
            "DBT_PROFILES_DIR": str(self.dbt_project_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }


def _resolve(base: Path, value: object) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _convert(kind: type, name: str, value: object) -> object:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"setting {name} ({ENV_PREFIX}{name.upper()}): {value!r} is not a valid {kind.__name__}"
        ) from None


def get_settings() -> Settings:
    return Settings.load()
