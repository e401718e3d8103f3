"""Testkube's legacy ``Test`` and ``TestSuite`` (``tests.testkube.io/v3``) and their conversion.

The models follow the v3 CRDs of ``kubeshop/testkube-operator`` (``api/tests/v3``,
``api/testsuite/v3``) plus the fields of the API's execution request; unknown
fields are rejected like everywhere else. Two additions accepted by assay:
``executionRequest.workingDir`` (a directory inside the repository, an alias of
``content.repository.workingDir``) and ``executionRequest.timeout`` (seconds or a
duration such as ``10m``), and ``secretEnvs`` entries written as
``{ENV: {secretName, secretKey}}``.

Conversion rules (:func:`test_to_workflow`, :func:`suite_to_workflow`)
======================================================================

Both return a validated ``TestWorkflow`` (``testworkflows.testkube.io/v1``) that
keeps the name, namespace and labels; things assay cannot honour are listed in
the annotation ``assay.dev/conversion-notes``.

Workspace
    The repository is checked out at ``/data/repo``; reports and artifacts go to
    ``/data/artifacts``. The local runner maps ``/data`` to the execution workspace.

Content (``spec.content``)
    * ``git`` (and the deprecated ``git-file``/``git-dir``) -> ``spec.content.git``:
      ``uri``; ``revision`` = ``commit``, else ``branch``; ``paths`` =
      ``[repository.path]`` when a path is set and no working directory is (with a
      working directory Testkube checks out the whole repository, and so does
      assay); ``usernameSecret``/``tokenSecret`` -> ``usernameFrom``/``tokenFrom``
      secret references; ``authType`` kept.
    * ``string`` -> ``spec.content.files`` writes ``data`` to ``/data/test-content``
      (``/data/test-content.py`` for pytest, which only collects ``.py`` files);
      that file is the test's target.
    * ``file-uri`` -> a first step ``fetch-content`` downloads ``uri`` to the same
      path with ``curl``.

Working directories
    ``W`` is ``executionRequest.workingDir``, else ``content.repository.workingDir``;
    ``P`` is ``content.repository.path`` (when ``P`` names a file — content type
    ``git-file`` or a last segment with an extension — its directory is used as
    ``P`` and the file becomes the test's target). Relative to ``/data/repo``:

    * the ``pre-run`` step runs in ``W``; without ``W`` in ``P``; without both in
      ``/data/repo``;
    * the ``test`` (and ``post-run``) step runs in ``P`` when ``P`` is set and lies
      inside ``W`` (or there is no ``W``); otherwise in ``W``; otherwise in
      ``/data/repo``.

    Seed example: ``workingDir: backend``, ``path: backend/tests`` -> ``pre-run`` in
    ``/data/repo/backend`` (``-r requirements.txt`` resolves there), ``test`` in
    ``/data/repo/backend/tests`` (``test_auth_endpoints.py::...`` resolves there).
    Without a repository (string/file-uri content) both run in ``/data``.

Environment (``spec.container.env``, so every step sees it)
    ``envs`` -> literal values; ``variables`` of type ``basic`` -> ``value``; of type
    ``secret`` -> ``valueFrom.secretKeyRef{name: secretRef.name, key: secretRef.key}``
    (a ``valueFrom`` given verbatim is kept); ``secretEnvs`` ``{ENV: {secretName,
    secretKey}}`` -> ``ENV`` from that secret key; Testkube's string form
    ``{SECRET_NAME: KEY}`` -> ``KEY`` from key ``KEY`` of secret ``SECRET_NAME``;
    ``httpProxy``/``httpsProxy`` -> ``HTTP_PROXY``/``HTTPS_PROXY``; ``envConfigMaps``/
    ``envSecrets`` with ``mapToVariables`` -> ``envFrom``. Later sources win on
    duplicate names. ``image`` -> ``spec.container.image``; ``imagePullSecrets`` ->
    ``spec.pod.imagePullSecrets``.

Steps
    1. ``pre-run``: ``shell`` = ``preRunScript`` (when set).
    2. ``test``: ``run.command``/``run.args``. With ``executionRequest.command``: that
       command and the args (``<runPath>`` in args is replaced by the target).
       Otherwise by the executor (the part of ``spec.type`` before ``/``):

       ============ ========================= =========================
       executor     command                   target appended
       ============ ========================= =========================
       pytest       ``pytest``                yes (when there is one)
       k6           ``k6 run``                yes
       postman      ``newman run``            yes
       cypress      ``npx cypress run``       no
       playwright   ``npx playwright test``   no
       maven        ``mvn test``              no
       gradle       ``gradle test``           no
       artillery    ``artillery run``         yes
       jmeter(d)    ``jmeter -n -t``          yes
       curl         ``curl``                  no (a JSON string content
                                              ``{"command": [...]}`` gives the command)
       ginkgo       ``ginkgo``                no
       container    the image's entrypoint    no
       ============ ========================= =========================

       Then the args; ``argsMode: override`` (or ``replace``) drops the target. Any
       other type without a command is a DefinitionError. For pytest, unless the
       args contain ``--junit-xml``/``--junitxml``, ``--junit-xml=/data/artifacts/
       junit/<test-name>.xml`` is appended; the report (a relative user path is
       resolved against the step's directory) is an artifact of the step, as are
       ``artifactRequest.dirs`` (``<dir>/**``). ``negativeTest`` -> ``negative``.
    3. ``post-run``: ``shell`` = ``postRunScript``, ``condition: always``.

    ``activeDeadlineSeconds`` and ``executionRequest.timeout`` -> ``job.activeDeadlineSeconds``
    (the smaller); ``spec.schedule`` -> ``events: [{cronjob: {cron}}]``.

TestSuite
    Each batch ``spec.steps[i]`` becomes a step ``batch-<i+1>`` running its tests as
    child executions: ``execute: {tests: [{name, executionRequest}], parallelism:
    <number of tests>}``; the suite's ``executionRequest.variables`` are merged
    under each entry's own. The batch's ``stopOnFailure`` (v3 default ``false``)
    sets the step's internal ``stop_on_failure``: when false, later batches still run
    after a failure (the suite still fails). ``delay`` entries become the step's
    ``delay`` (the longest one when several; a batch of only delays is a pure delay
    step). ``before`` batches become ``spec.setup`` steps ``before-<i+1>``; ``after``
    batches ``spec.after`` steps ``after-<i+1>`` with ``condition: always``. The
    suite's ``executionRequest.timeout`` -> ``job.activeDeadlineSeconds``.

Parts: :mod:`.models` (the v3 models), :mod:`.conversion` (what both conversions share),
:mod:`.tests` (:func:`test_to_workflow`), :mod:`.suites` (:func:`suite_to_workflow`).
"""

from __future__ import annotations

from assay.spec.legacy.conversion import ARTIFACTS_DIR, CONTENT_FILE, REPO_DIR
from assay.spec.legacy.models import (
    LEGACY_API_VERSION,
    ArtifactRequest,
    EnvReference,
    LegacyContent,
    LegacyExecutionRequest,
    LegacyRepository,
    LegacySecretRef,
    LegacyTest,
    LegacyTestSpec,
    LegacyTestSuite,
    LegacyTestSuiteSpec,
    LegacyVariable,
    SecretEnvRef,
    SuiteBatch,
    SuiteExecutionRequest,
    SuiteStep,
    SuiteStepExecutionRequest,
)
from assay.spec.legacy.suites import suite_to_workflow
from assay.spec.legacy.tests import test_to_workflow

__all__ = [
    "ARTIFACTS_DIR",
    "CONTENT_FILE",
    "LEGACY_API_VERSION",
    "REPO_DIR",
    "ArtifactRequest",
    "EnvReference",
    "LegacyContent",
    "LegacyExecutionRequest",
    "LegacyRepository",
    "LegacySecretRef",
    "LegacyTest",
    "LegacyTestSpec",
    "LegacyTestSuite",
    "LegacyTestSuiteSpec",
    "LegacyVariable",
    "SecretEnvRef",
    "SuiteBatch",
    "SuiteExecutionRequest",
    "SuiteStep",
    "SuiteStepExecutionRequest",
    "suite_to_workflow",
    "test_to_workflow",
]
