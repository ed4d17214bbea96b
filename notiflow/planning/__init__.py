"""Tomorrow's notification plan.

- ``policy``: the volume policy that chooses the sends (caps, quiet hours, opt-ins, a
  budget multiplier, exploration with exact propensities);
- ``plan``: the plan of a day from the scores: P(unsubscribe) rates, the policy's
  sends laid out as plan rows, staged for the gate, then published;
- ``send_time``: a local hour on the plan's UTC day (shared with the scorer);
- ``off_policy``: IPS, SNIPS and DR estimates of a policy's value on logged sends.

Pure numpy and the warehouse on the core (no Airflow, no TensorFlow): the planning DAG
feeds it the models' scores (``tfx_pipelines.scoring``), the unit tests drive it
directly.
"""
