"""assay in CI: quality gates, GitHub Actions (job summary, outputs, a sticky pull-request
comment, a check run with annotations) and Slack notifications.

Modules, from pure to networked:

- :mod:`assay.ci.gates` — gate options -> gate results -> the verdict and its exit code
- :mod:`assay.ci.github_env` — the GitHub Actions environment (``GITHUB_*``, event payload)
- :mod:`assay.ci.annotations` — failing tests -> check-run annotations (file and line)
- :mod:`assay.ci.outputs` — ``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_OUTPUT`` files
- :mod:`assay.ci.github` — the REST client (httpx): comments and check runs
- :mod:`assay.ci.publish` — the sticky comment and the check run of one report
- :mod:`assay.ci.reporting` — report -> verdict; summary, comment, check run, outputs in order
- :mod:`assay.ci.slack` — incoming-webhook notifications on failure and on recovery

Nothing here prints a token or a webhook URL: they are secrets, and error messages are
built without them.
"""
