"""A resolved TestWorkflow as the plan of its Pods (:mod:`assay.kube.model`).

Refs number steps as the engine does (a global counter, ``PARENT.N`` for nested steps), so a
step has one ref whichever runner ran it; a workflow's content is ``content-git`` and
``content-files``, a step's ``REF-git``; a worker's steps are ``REF.wINDEX...``.
"""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from assay.engine.config import resolve_config
from assay.engine.parallel import worker_name
from assay.engine.parallel_params import group_where, resolve_params
from assay.engine.services import keeps_logs
from assay.engine.shard_balance import assign_shards
from assay.engine.steps import StepWalker
from assay.errors import DefinitionError
from assay.kube.content import add_file, git_env
from assay.kube.model import (
    DATA,
    ENTRY,
    HELPER_SECURITY,
    PARALLELISM_ANNOTATION,
    Gate,
    Plan,
    PlanOptions,
    PodPlan,
    PodStep,
    ServicePlan,
    Settings,
    under_data,
)
from assay.kube.names import ExecutionIdentity, dns_label
from assay.kube.values import KubeEnv, decide_condition, decide_until, seconds
from assay.spec.workflow import (
    Artifacts,
    Container,
    Content,
    Parallel,
    Service,
    Step,
    TestWorkflow,
)

__all__ = ["make_plan"]

_WORKER_FIELDS = ("condition", "negative", "optional", "retry", "timeout", "delay")
_WORKER_FIELDS_ACTIONS = ("shell", "run", "execute", "setup", "steps")


def make_plan(
    workflow: TestWorkflow,
    identity: ExecutionIdentity,
    config: Mapping[str, Any],
    options: PlanOptions | None = None,
) -> Plan:
    """The plan of one execution of ``workflow`` (raises DefinitionError on bad input)."""
    return _Planner(workflow, identity, config, options or PlanOptions()).plan()


def _step_command(step: Step | Service, where: str) -> list[str] | None:
    """The step's command; None for a service without one (the image's own runs)."""
    run = getattr(step, "run", None)
    shell = step.shell if step.shell is not None else (run.shell if run else None)
    if shell is not None:
        return ["/bin/sh", "-c", "set -e\n" + shell]
    container = run if run is not None else step
    if isinstance(container, Container) and (container.command or container.args):
        return [*(container.command or []), *(container.args or [])]
    if isinstance(step, Service):
        return None
    raise DefinitionError(
        f"{where}: without `shell`, `command` or `args` the image's own entrypoint would run, "
        "which the Kubernetes runner cannot read without a registry; give the command"
    )


def _worker_pod(
    workflow_pod: Mapping[str, Any] | None, group_pod: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A worker's ``pod``: the group's, with the workflow's volumes too (the containers it
    inherits may mount them)."""
    pod = dict(group_pod or {})
    volumes = {v["name"]: v for v in (workflow_pod or {}).get("volumes", [])}
    volumes.update({v["name"]: v for v in pod.get("volumes", [])})
    if volumes:
        pod["volumes"] = list(volumes.values())
    return pod


class _Planner:
    def __init__(
        self,
        workflow: TestWorkflow,
        identity: ExecutionIdentity,
        given: Mapping[str, Any],
        options: PlanOptions,
    ) -> None:
        spec = workflow.spec
        self.workflow = workflow
        self.identity = identity
        self.options = options
        self.config = resolve_config(spec.config, given)
        self.plan_ = Plan(identity, options, PodPlan(identity.job_name))
        self.plan_.sensitive.extend(
            str(self.config[name]) for name, param in spec.config.items() if param.sensitive
        )
        self.context: dict[str, Any] = {
            "config": self.config,
            **identity.expression_context(),
            "services": {},
        }

    def plan(self) -> Plan:
        spec = self.workflow.spec
        main = self.plan_.main
        deadline = spec.job.active_deadline_seconds if spec.job else None
        main.deadline = deadline
        if spec.job is not None:
            main.job_labels, main.job_annotations = spec.job.labels, spec.job.annotations
        main.pod = dict(spec.pod or {})
        root = Settings().merge(spec.container)
        self.services(spec.services, None)
        git_dir = spec.content.git.mount_path if spec.content and spec.content.git else None
        default_dir = git_dir or (f"{DATA}/repo" if spec.content and spec.content.git else DATA)
        pod = _PodBuilder(self, main, self.context, default_dir, deadline)
        if spec.content is not None:
            pod.content(spec.content, root, "content", (), "always")
        pod.walk([*spec.setup, *spec.steps, *spec.after], root, "", ())
        if not main.steps:
            raise DefinitionError(f"{self.workflow.metadata.name}: no step runs anything")
        return self.plan_

    def services(self, services: Mapping[str, Service], step_ref: str | None) -> None:
        """Plan ``services`` and make ``services.NAME.N.ip`` their DNS names. A service is
        its own Pod: it inherits no step's container settings (volumes would not exist)."""
        for name, service in services.items():
            where = f"services.{name}"
            own = Settings().merge(service)
            env = KubeEnv(self.context)  # for `count`; instances render their own env
            count_text = service.count if service.count is not None else 1
            try:
                count = int(env.text(str(count_text)))
            except ValueError:
                raise DefinitionError(f"{where}.count: {count_text!r} is not a number") from None
            for unsupported in ("content", "transfer", "use", "matrix", "shards"):
                if getattr(service, unsupported):
                    self.note(f"{where}: `{unsupported}` is not rendered for Kubernetes yet")
            job = self.identity.job_name
            service_name = dns_label(f"{job}-{name}")
            instances = []
            for index in range(count):
                instance_context = {**self.context, "index": index, "count": count}
                own_env = KubeEnv(instance_context, own.env)
                if own.image is None:
                    raise DefinitionError(f"{where}: no image")
                command = _step_command(service, where)
                container: dict[str, Any] = {
                    "name": dns_label(name),
                    "image": own_env.text(own.image),
                }
                if command is not None:  # else the image's entrypoint and cmd
                    argv = [own_env.text(part) for part in command]
                    container.update(command=argv[:1], args=argv[1:])
                if own_env.list():
                    container["env"] = own_env.list()
                plan = ServicePlan(
                    name=name,
                    index=index,
                    pod_name=dns_label(f"{job}-{name}-{index}"),
                    service_name=service_name,
                    step_ref=step_ref,
                    container=container,
                    settings=own,
                    pod=dict(service.pod or {}),
                    restart_policy=service.restart_policy or "Never",
                    readiness_probe=service.readiness_probe,
                    timeout=seconds(service.timeout, own_env, f"{where}.timeout"),
                    keep_logs=keeps_logs(service.logs),
                )
                self.plan_.services.append(plan)
                host = f"{plan.hostname}.{service_name}.{self.options.namespace}.svc.cluster.local"
                instances.append({"ip": host, "host": host, "name": plan.pod_name})
            self.context["services"] = {**self.context["services"], name: instances}

    def note(self, text: str) -> None:
        if text not in self.plan_.notes:
            self.plan_.notes.append(text)


class _PodBuilder:
    """Adds the containers of one Pod, numbering steps as the engine does."""

    def __init__(
        self,
        planner: _Planner,
        pod: PodPlan,
        context: Mapping[str, Any],
        default_dir: str,
        deadline: int | None,
    ) -> None:
        self.planner = planner
        self.pod = pod
        self.context = context
        self.default_dir = default_dir
        self.deadline = deadline
        self.counter = itertools.count(1)

    # -- steps ----------------------------------------------------------------------------

    def walk(
        self,
        steps: Sequence[Step],
        settings: Settings,
        prefix: str,
        gates: tuple[Gate, ...],
        optional: bool = False,
    ) -> None:
        """Steps in order; ``optional`` when an enclosing group is."""
        for step in steps:
            self.step(step, settings, prefix, gates, optional=optional)

    def step(
        self,
        step: Step,
        settings: Settings,
        prefix: str,
        gates: tuple[Gate, ...],
        ref: str | None = None,
        optional: bool = False,
    ) -> None:
        ref = ref or f"{prefix}{next(self.counter)}"
        name = StepWalker.step_name(step)
        where = f"step {name!r}"
        own = settings.merge(step.container, step.working_dir)
        env = KubeEnv(self.context, own.env)
        condition = decide_condition(step.condition, env, where)
        optional = optional or step.optional
        timeout = seconds(step.timeout, env, f"{where}: timeout")
        for unsupported in ("paused", "pure"):
            if getattr(step, unsupported):
                self.planner.note(f"{where}: `{unsupported}` is ignored")
        if step.retry is not None and step.retry.scope == "failed-tests":
            self.planner.note(f"{where}: `retry.scope: failed-tests` re-runs the whole step")
        if step.services:
            self.planner.services(step.services, ref)
            self.planner.note(
                f"{where}: its services run for the whole execution (they are started "
                "before the Pod, whose environment cannot change later)"
            )
        if step.content is not None:
            self.content(step.content, own, ref, gates, condition)
        actions = self.actions(step, own, ref, name, where)
        children = [*step.setup, *step.steps]
        if not actions and not children:
            return
        retries = step.retry.count if step.retry else 0
        last: str | None = None
        for index, (suffix, argv, action_settings, run_env) in enumerate(actions):
            waits = argv[1:3] == [ENTRY, "wait"]
            leaf_ref = ref + suffix
            self.pod.steps.append(
                self.leaf(
                    leaf_ref,
                    name,
                    argv,
                    run_env,
                    action_settings,
                    gates,
                    condition=condition if index == 0 else "always",
                    needs=last,
                    retries=retries,
                    until=decide_until(step.retry.until if step.retry else None, env, where),
                    timeout=timeout,
                    delay=seconds(step.delay, env, f"{where}: delay") if index == 0 else None,
                    negative=step.negative,
                    optional=optional,
                    blocking=step.stop_on_failure,
                    junit=not waits,
                )
            )
            last = leaf_ref
        if children:
            if actions:
                if retries:
                    self.planner.note(f"{where}: `retry` re-runs its own command only")
                group = Gate(f"{ref}-steps", "always", timeout)
                child_gates = (*gates, group) if timeout else gates
                needs_ref: str | None = last
            else:
                if retries:
                    self.planner.note(f"{where}: `retry` of a group of steps is not supported")
                if step.negative:
                    self.planner.note(f"{where}: `negative` of a group of steps is ignored")
                child_gates = (*gates, Gate(ref, condition, timeout))
                needs_ref = None
            start = len(self.pod.steps)
            self.walk(children, own, f"{ref}.", child_gates, optional)
            if needs_ref is not None:
                for child in self.pod.steps[start:]:
                    child.needs = child.needs or needs_ref
        if step.artifacts is not None and step.artifacts.paths:
            self.artifacts(step.artifacts, own, env, where)

    def artifacts(self, artifacts: Artifacts, own: Settings, env: KubeEnv, where: str) -> None:
        """``artifacts`` of a step, copied by its last container (the last of its children
        for a group); a child's own artifacts keep their directory, the group's join it as
        absolute paths."""
        leaf = self.pod.steps[-1]
        base = self.working_dir(own.merge(None, artifacts.working_dir), env, where)
        patterns = [env.text(pattern) for pattern in artifacts.paths]
        if any("\n" in pattern for pattern in patterns):
            raise DefinitionError(f"{where}: artifacts.paths: a path has a line break")
        if leaf.artifacts and leaf.artifacts_dir != base:
            patterns = [posixpath.join(base, pattern) for pattern in patterns]
        else:
            leaf.artifacts_dir = base
        leaf.artifacts.extend(patterns)
        leaf.artifacts_limit = self.planner.options.artifacts_limit

    def actions(
        self, step: Step, own: Settings, ref: str, name: str, where: str
    ) -> list[tuple[str, list[str], Settings, KubeEnv]]:
        """(ref suffix, command, settings, env) of each container the step itself needs."""
        found: list[tuple[str, list[str], Settings, KubeEnv]] = []
        has_command = step.shell is not None or step.run is not None
        if has_command:
            run_settings = own.merge(step.run) if step.run is not None else own
            run_env = KubeEnv(self.context, run_settings.env)
            argv = [run_env.text(part) for part in _step_command(step, where) or []]
            found.append(("", argv, run_settings, run_env))
        wait_env = KubeEnv(self.context)  # waits on a file: no variables, any image with sh
        waiting = Settings(
            image=own.image or self.planner.options.git_image, security=HELPER_SECURITY
        )
        if step.execute is not None:
            suffix = "" if not found else "-execute"
            found.append((suffix, self.wait(ref + suffix), waiting, wait_env))
            self.planner.plan_.executes[ref + suffix] = step.execute
            self.planner.note(
                f"{where}: `execute` runs other executions; the Pod waits for the runner's "
                "signal (they are not rendered here)"
            )
        if step.parallel is not None:
            suffix = "" if not found else "-parallel"
            self.parallel(step.parallel, own, ref + suffix, name)
            found.append((suffix, self.wait(ref + suffix), waiting, wait_env))
        return found

    @staticmethod
    def wait(ref: str) -> list[str]:
        return ["/bin/sh", ENTRY, "wait", ref]

    def leaf(
        self,
        ref: str,
        name: str,
        argv: list[str],
        env: KubeEnv,
        settings: Settings,
        gates: tuple[Gate, ...],
        **entry: Any,
    ) -> PodStep:
        where = f"step {name!r}"
        image = settings.image or self.planner.options.default_image
        if image is None:
            raise DefinitionError(
                f"{where}: no image; the Kubernetes runner needs `container.image` (on the "
                "step, an enclosing step or the workflow) or ASSAY_KUBERNETES_IMAGE"
            )
        return PodStep(
            ref=ref,
            name=name,
            argv=argv,
            image=env.text(image),
            env=env.list(),
            settings=settings,
            working_dir=self.working_dir(settings, env, where),
            gates=gates,
            deadline=self.deadline,
            grace=self.planner.options.cleanup_grace,
            **entry,
        )

    def working_dir(self, settings: Settings, env: KubeEnv, where: str) -> str:
        if not settings.working_dir:
            return self.default_dir
        path = posixpath.normpath(posixpath.join(self.default_dir, env.text(settings.working_dir)))
        if "\n" in path:
            raise DefinitionError(f"{where}: workingDir {path!r} has a line break")
        return path

    # -- parallel workers -----------------------------------------------------------------

    def parallel(self, group: Parallel, settings: Settings, ref: str, name: str) -> None:
        where = group_where(ref, name)
        own = settings.merge(group.container, group.working_dir)
        env = KubeEnv(self.context, own.env)
        params = resolve_params(group, where, env.expression_context())
        assert params is not None
        assignment = assign_shards(params.shards, params.shard_count, {})
        config = dict(self.context["config"])
        for key, param in group.config.items():
            if param.default is not None:
                config.setdefault(key, param.default)
        for unsupported in ("transfer", "fetch"):
            if getattr(group, unsupported):
                self.planner.note(f"{where}: `{unsupported}` is not rendered for Kubernetes yet")
        template = {key: getattr(group, key) for key in (*_WORKER_FIELDS, *_WORKER_FIELDS_ACTIONS)}
        deadline = group.job.active_deadline_seconds if group.job else None
        for index in range(params.count):
            variables = params.variables(index, assignment.shard)
            context = {**self.context, "config": config, **variables}
            pod = PodPlan(
                name=dns_label(f"{self.pod.name}-{ref}-w{index}", limit=52),
                pod=_worker_pod(self.planner.workflow.spec.pod, group.pod),
                deadline=deadline,
                step_ref=ref,
                worker=index,
            )
            if group.job is not None:
                pod.job_labels = group.job.labels
                pod.job_annotations = dict(group.job.annotations)
            pod.job_annotations[PARALLELISM_ANNOTATION] = str(params.parallelism)
            builder = _PodBuilder(self.planner, pod, context, self.default_dir, deadline)
            if group.content is not None:
                builder.content(group.content, own, f"{ref}.w{index}", (), "always")
            worker_step = Step(name=worker_name(group, index, context), **template)
            builder.step(worker_step, own, f"{ref}.w{index}.", (), ref=f"{ref}.w{index}")
            builder.walk(group.after, own, f"{ref}.w{index}.", ())
            if not pod.steps:
                raise DefinitionError(f"{where}: its workers run nothing")
            self.planner.plan_.workers.append(pod)

    # -- content --------------------------------------------------------------------------

    def content(
        self,
        content: Content,
        settings: Settings,
        ref: str,
        gates: tuple[Gate, ...],
        condition: str,
    ) -> None:
        """Containers checking out ``content.git`` and copying ``content.files``."""
        env = KubeEnv(self.context, settings.env)
        if content.tarball:
            self.planner.note(f"{ref}: `content.tarball` is not rendered for Kubernetes yet")
        leaf: dict[str, Any] = {
            "condition": condition,
            "junit": False,
            "failure": "error",
            "content": True,
        }
        if content.git is not None:
            secret = dns_label(f"{self.pod.name}-{ref}-git")
            git_variables = git_env(content.git, env, self.planner.plan_, secret)
            self.pod.steps.append(
                self.leaf(
                    f"{ref}-git",
                    f"check out {content.git.uri}",
                    ["/bin/sh", ENTRY, "clone"],
                    git_variables,
                    Settings(
                        image=self.planner.options.git_image,
                        security=HELPER_SECURITY,
                        working_dir=DATA,
                    ),
                    gates,
                    **leaf,
                )
            )
        if content.files:
            first = len(self.pod.files)
            listing = f"files-{ref}.list"
            for item in content.files:
                add_file(self.pod, item, env, listing)
            if any(under_data(item.path) for item in self.pod.files[first:]):
                self.pod.steps.append(
                    self.leaf(
                        f"{ref}-files",
                        "write content.files",
                        ["/bin/sh", ENTRY, "files", f"/.assay/{listing}"],
                        KubeEnv(self.context),
                        Settings(
                            image=settings.image or self.planner.options.git_image,
                            security=settings.security or HELPER_SECURITY,
                            working_dir=DATA,
                        ),
                        gates,
                        **leaf,
                    )
                )
