"""A pipeline is a folder: adding one changes no shared file, and the runner runs it.

The fixture writes a real toy pipeline folder into the installed ``tfx_pipelines``
package (two ImportSchemaGen nodes, a hook on each) and removes it afterwards; the
tests find it, print its graph and run its nodes with the same runner as engagement.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.tfx

pytest.importorskip("tfx")

from notiflow import pipelines  # noqa: E402
from tfx_pipelines import run_component  # noqa: E402
from tfx_pipelines.common import node_runner  # noqa: E402

IMPORT_SCHEMA_GEN = "tfx.components.schema_gen.import_schema_gen.component.ImportSchemaGen"
TOY_GRAPH = [
    {"id": "SchemaGen", "type": IMPORT_SCHEMA_GEN, "upstream": []},
    {"id": "SchemaCopy", "type": IMPORT_SCHEMA_GEN, "upstream": ["SchemaGen"]},
]
END_DS = datetime.date(2026, 1, 9)
RUN_ID = "manual__2026-01-10T00:00:00+00:00"

TOY_FILES = {
    "__init__.py": '"""A toy pipeline written by tests/tfx/test_pipeline_discovery.py."""\n',
    "configs.py": """
import os

PIPELINE_NAME = "{name}"
SCHEMA_GEN = "SchemaGen"
SCHEMA_COPY = "SchemaCopy"
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.pbtxt")


def pipeline_args(settings, end_ds):
    return {{
        "pipeline_name": PIPELINE_NAME,
        "pipeline_root": str(settings.pipeline_root / PIPELINE_NAME),
        "schema_file": SCHEMA_FILE,
    }}
""",
    "pipeline.py": """
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import pipeline as tfx_pipeline

from tfx_pipelines.{name} import configs


def create_pipeline(
    pipeline_name, pipeline_root, schema_file, metadata_connection_config, beam_pipeline_args=()
):
    schema_gen = ImportSchemaGen(schema_file=schema_file).with_id(configs.SCHEMA_GEN)
    copy = ImportSchemaGen(schema_file=schema_file).with_id(configs.SCHEMA_COPY)
    copy.add_upstream_node(schema_gen)
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[schema_gen, copy],
        enable_cache=False,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
""",
    "hooks.py": """
from tfx_pipelines.{name} import configs

CALLS = []


def after_schema_gen(run, result):
    CALLS.append((run.node_id, run.run_id, run.end_ds, result.execution.id))
    print(f"toy hook: {{run.node_id}} of {{run.pipeline_name}} in run {{run.pipeline_run_id}}")
    return None


def after_copy(run, result):
    CALLS.append((run.node_id, run.run_id, run.end_ds, result.execution.id))
    return False  # as a Pusher that pushed nothing


AFTER_NODE = {{configs.SCHEMA_GEN: after_schema_gen, configs.SCHEMA_COPY: after_copy}}
""",
    "schema.pbtxt": 'feature { name: "x" type: INT }\n',
    pipelines.GRAPH_FILE: json.dumps(TOY_GRAPH, indent=2) + "\n",
}


def _forget(name: str) -> None:
    package = f"{pipelines.PACKAGE}.{name}"
    for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[module]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def toy() -> Iterator[str]:
    """A pipeline folder added to the installed tfx_pipelines package, as a team would."""
    name = f"toy_{os.getpid()}"
    folder = pipelines.package_dir() / name
    folder.mkdir()
    try:
        for file, text in TOY_FILES.items():
            # The Python files name their package; the others are written as they are.
            text = text.format(name=name) if file.endswith(".py") else text
            (folder / file).write_text(text.lstrip("\n"))
        importlib.invalidate_caches()
        yield name
    finally:
        shutil.rmtree(folder)
        _forget(name)


def _toy_hooks(name: str):
    return importlib.import_module(f"{pipelines.PACKAGE}.{name}.hooks")


def test_the_folder_is_a_pipeline(toy: str) -> None:
    assert toy in pipelines.pipeline_names()
    assert "engagement" in pipelines.pipeline_names()
    assert pipelines.load_graph(toy) == TOY_GRAPH


def test_print_graph_compiles_the_toy_pipeline(toy: str, settings, tmp_path: Path) -> None:
    # From outside the checkout: the installed package finds the new folder.
    result = subprocess.run(
        [sys.executable, "-m", "tfx_pipelines.run_component", "--pipeline", toy, "--print-graph"],
        cwd=tmp_path,
        env={**os.environ, "NOTIFLOW_HOME": str(tmp_path / "cli"), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == TOY_GRAPH == run_component.compiled_graph(toy, settings)
    assert not (tmp_path / "cli").exists()  # printing the graph creates no metadata DB


def test_running_a_toy_node_calls_its_hook(
    toy: str, settings, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _toy_hooks(toy).CALLS
    calls.clear()
    outcome = run_component.run_component(toy, "SchemaGen", RUN_ID, END_DS, settings)
    assert outcome.execution.succeeded and outcome.pushed is None
    assert calls == [("SchemaGen", RUN_ID, END_DS, outcome.execution.execution.id)]
    pipeline_run_id = node_runner.sanitize_run_id(RUN_ID)
    assert f"toy hook: SchemaGen of {toy} in run {pipeline_run_id}" in capsys.readouterr().out

    # The CLI maps the hook's "pushed nothing" to --not-pushed-exit-code, as for a Pusher.
    cli = ["--pipeline", toy, "--node", "SchemaCopy", "--run-id", RUN_ID]
    cli += ["--end-ds", END_DS.isoformat()]
    assert run_component.main([*cli, "--not-pushed-exit-code", "7"]) == 7
    assert run_component.main(cli) == 0  # a retry: the node is done, the hook runs again
    assert [c[0] for c in calls] == ["SchemaGen", "SchemaCopy", "SchemaCopy"]
    assert calls[1][3] == calls[2][3]  # one execution


def test_a_hook_for_a_node_the_pipeline_lacks_is_an_error(
    toy: str, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = _toy_hooks(toy)
    monkeypatch.setitem(hooks.AFTER_NODE, "SchemaGenn", hooks.after_schema_gen)
    stray = r"AFTER_NODE names node\(s\) \['SchemaGenn'\]"
    with pytest.raises(node_runner.NodeRunError, match=stray):
        run_component.run_component(toy, "SchemaGen", "manual__typo", END_DS, settings)


def test_unknown_pipeline_fails_naming_the_known_ones(
    settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        run_component.main(["--pipeline", "unknown", "--print-graph"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "'unknown'" in err and "'engagement'" in err
    with pytest.raises(pipelines.PipelineNotFoundError, match=r"'unknown'.*known: .*'engagement'"):
        run_component.run_component("unknown", "Trainer", RUN_ID, END_DS, settings)
