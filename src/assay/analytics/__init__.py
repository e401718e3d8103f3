"""Analytics over the recorded history: flaky tests, trends, traceability, shard planning.

Owns the questions asked of many executions (numpy arrays over a window of them).  May
import the ground floor, :mod:`assay.results` and :mod:`assay.store`; never the reports,
the engine, CI or the CLI.
"""
