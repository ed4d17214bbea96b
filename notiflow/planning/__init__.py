"""Tomorrow's notification plan: the volume policy that chooses the sends and the
off-policy estimators that judge a plan on the logs before it is sent.

Pure numpy on the core (no Airflow, no TensorFlow): the planning DAG feeds it the
models' scores, and the unit tests drive it directly.
"""
