"""Test results as reported: JUnit XML parsed into per-test-case rows (:mod:`assay.model`).

Owns the parsing only (streaming, hostile XML refused).  May import the ground floor
(:mod:`assay.model`, :mod:`assay.errors`, :mod:`assay.status`) and nothing else of assay.
"""
