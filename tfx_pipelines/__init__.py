"""TFX layer of notiflow: pipelines, custom components and their runners.

Everything under this package runs in the TFX environment (``.venvs/tfx``) and
never imports Airflow; Airflow drives it through ``python -m
tfx_pipelines.run_component`` and reads the node graph from a checked-in JSON file.
"""

import os

# TFX 1.16, TFT and TFMA need tf.keras to be tf-keras (Keras 2): models are saved and
# loaded through it. TensorFlow reads this flag once, at import, so it is set here,
# before any module of this package can import TensorFlow. It is process setup for
# TensorFlow, not a notiflow setting (those come from notiflow.settings only).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
