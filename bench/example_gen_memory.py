"""Benchmark: DuckDB ExampleGen's split writing, ours next to TFX's, on one warehouse.

TFX's ``WriteSplit`` reshuffles each split before writing it; on Beam's local runner that
holds the whole split in memory. Our executor writes the splits without it. This runs
both on the same engagement window, one after the other, each in its own process, and
prints each one's wall time, peak RSS, rows and whether they wrote the same records in
the same order. Run from the repository root on a home that ``bench/tfx_scale.py --keep``
(or ``notiflow demo``) simulated:

    .venvs/orchestration/bin/python bench/example_gen_memory.py --home H --end-ds 2026-02-12
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import tfx_environment, world_environment  # noqa: E402

WRITERS = ("tfx_write_split", "notiflow")

# Run in the TFX environment: one ExampleGen execution, its peak RSS from getrusage.
_CHILD = """
import glob, hashlib, json, os, resource, sys, time
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils
from tfx_pipelines.components.duckdb_example_gen import time_split_input_config
from tfx_pipelines.components.duckdb_example_gen.executor import Executor, custom_config_json
from tfx_pipelines.engagement import configs, features
import datetime as dt

writer, database, end_ds, days, out = sys.argv[1:6]
config = time_split_input_config(configs.SOURCE_TABLE, features.example_columns(),
                                 dt.date.fromisoformat(end_ds), int(days))
examples = standard_artifacts.Examples()
examples.uri = out
properties = {
    "input_config": proto_utils.proto_to_json(config),
    "output_config": proto_utils.proto_to_json(utils.make_default_output_config(config)),
    "custom_config": custom_config_json(database),
    "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
    "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
}
executor = Executor()
do = executor.Do if writer == "notiflow" else (
    lambda *args: base_example_gen_executor.BaseExampleGenExecutor.Do(executor, *args))
started = time.monotonic()
do({}, {"examples": [examples]}, properties)
seconds = time.monotonic() - started
import tensorflow as tf
digest, rows = hashlib.sha256(), 0
for split in artifact_utils.decode_split_names(examples.split_names):
    files = sorted(glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*")))
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        digest.update(record)
        rows += 1
print(json.dumps({"seconds": round(seconds, 1), "rows": rows, "sha256": digest.hexdigest(),
                  "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                        / 2**20, 2)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--end-ds", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--users", type=int, default=100_000, help="as the home was simulated")
    args = parser.parse_args()

    from simulate_scale import machine

    from notiflow.settings import Settings

    environ = world_environment(args.home, users=args.users)
    settings = Settings.load(environ)
    env = tfx_environment(settings, environ)
    result: dict = {
        "benchmark": "example_gen_memory",
        "machine": machine(),
        "end_ds": str(args.end_ds),
        "training_days": settings.training_days,
    }
    for writer in WRITERS:
        with tempfile.TemporaryDirectory(prefix="notiflow-bench-example-gen-") as out:
            started = time.monotonic()
            child = subprocess.run(
                [str(settings.tfx_python), "-c", _CHILD, writer, str(settings.warehouse_path),
                 str(args.end_ds), str(settings.training_days), out],
                env=env, capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            if child.returncode != 0:
                sys.stderr.write(child.stderr[-3000:])
                return 1
            result[writer] = {
                **json.loads(child.stdout.strip().splitlines()[-1]),
                "process_seconds": round(time.monotonic() - started, 1),
            }
    ours, theirs = result["notiflow"], result["tfx_write_split"]
    result["same_records_in_order"] = ours["sha256"] == theirs["sha256"]
    result["peak_rss_ratio"] = round(ours["peak_rss_gib"] / theirs["peak_rss_gib"], 3)
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
