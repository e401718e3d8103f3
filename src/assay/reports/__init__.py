"""Reports of executions: the data a report needs (:mod:`.data`) and its formats
(markdown, HTML, merged JUnit).

May import the ground floor, :mod:`assay.results` and :mod:`assay.store`; never the
analytics, the engine, CI or the CLI.
"""
