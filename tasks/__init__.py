"""Evaluation tasks: one module per task, registered with ``@TASKS.register(name)``.

A task turns the corpus and a model adapter into per-sample scores (kept as parquet) and aggregates
them; ``harness.statistics`` bootstraps confidence intervals from the same per-sample table.
"""
