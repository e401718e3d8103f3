"""Apply TestWorkflowTemplates to a workflow (``use`` and step ``template``), as Testkube does.

Semantics (Testkube's ``testworkflowresolver``):

Names
    A reference's ``/`` is read as ``--``: ``official/k6/v1`` finds the template
    ``official--k6--v1``. A missing template is a DefinitionError naming the
    template and where it is used (``spec.steps[0].template``). A name not among the
    given templates is looked up among those shipped with assay (:mod:`assay.spec.shipped`).

Configuration
    Each use renders the template first: its parameters take their ``default``
    and the ``config`` given in the ``use``/``template`` entry overrides them (cast
    to the parameter's type). ``{{ config.X }}`` inside the template's fields is
    replaced (expression fields such as ``condition`` or ``count`` are simplified);
    everything else (``{{ env.X }}``, ``{{ services.db.0.ip }}``, ``{{ index }}``...)
    is left for execution time. A ``config.X`` the template uses but that has no
    value is an error. The template's parameters are *not* added to the workflow's
    ``spec.config``, and the workflow's own ``{{ config.X }}`` are never touched
    here (a config value such as ``"{{ config.rev }}"`` passed to a template is
    inserted as-is and resolved later against the workflow's config).

``spec.use`` (also ``parallel.use``), applied last to first
    ``content``, ``container``, ``pod``, ``job`` merged with the workflow's values
    winning (env deduplicated by name, lists such as ``volumeMounts`` or
    ``files`` concatenated; a workflow ``image`` also replaces the template's
    ``command``/``args``); ``services`` merged by name; ``events`` concatenated;
    template ``setup`` and ``steps`` go before the workflow's, template ``after``
    after the workflow's.

Step ``use``
    The template's ``content``, ``container`` and ``services`` are merged into the
    step (the step wins); template ``setup`` goes before the step's ``setup``;
    template ``steps`` before the step's sub-steps and template ``after`` after them.

Step ``template: {name, config}``
    The template's ``setup``, ``steps`` and ``after`` become the first sub-steps of
    the step. When the template also sets ``container`` or ``content`` they are
    wrapped in one sub-step that carries them, so they do not leak to the step's
    other sub-steps.

Service ``use``
    ``pod``, ``content`` and container settings merged into the service; a template
    with steps or services cannot be used by a service.

Steps left with nothing but sub-steps are flattened into their parent list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from assay.errors import DefinitionError, ExpressionError
from assay.spec.expressions import references, render, simplify
from assay.spec.workflow import (
    Container,
    Content,
    Job,
    Parallel,
    ParamSpec,
    Service,
    Step,
    TemplateRef,
    TestWorkflow,
    TestWorkflowTemplate,
    WorkflowSpec,
)

__all__ = ["MAX_EXPANSIONS", "normalize_template_name", "resolve_templates"]

MAX_EXPANSIONS = 1000
"""Most template applications in one workflow (guards against recursive templates)."""

_EXPRESSION_FIELDS = frozenset({"condition", "count", "max_count", "parallelism", "until"})
_RAW_MAPS = frozenset({"matrix", "shards"})
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", WorkflowSpec, Parallel)


def normalize_template_name(name: str) -> str:
    """``official/k6/v1`` -> ``official--k6--v1``."""
    return name.strip().replace("/", "--")


class _Resolver:
    def __init__(self, templates: Mapping[str, TestWorkflowTemplate]) -> None:
        self.templates: dict[str, TestWorkflowTemplate] = {}
        for key, template in templates.items():
            self.templates[normalize_template_name(key)] = template
            self.templates.setdefault(normalize_template_name(template.metadata.name), template)
        self.expansions = 0

    # ----------------------------------------------------------------- lookup and config

    def configured(self, ref: TemplateRef, where: str) -> TestWorkflowTemplate:
        self.expansions += 1
        if self.expansions > MAX_EXPANSIONS:
            raise DefinitionError(
                f"{where}: more than {MAX_EXPANSIONS} template expansions (recursive template?)"
            )
        key = normalize_template_name(ref.name)
        template = self.templates.get(key)
        if template is None:  # the ones shipped with assay, read only when asked for
            from assay.spec.shipped import shipped_templates

            template = shipped_templates().get(key)
        if template is None:
            known = ", ".join(sorted(self.templates)) or "none loaded"
            raise DefinitionError(
                f"{where}: template {ref.name!r} not found (looked for {key!r}; known: {known})"
            )
        values = _config_values(template, ref, where)
        context = {"config": values}
        _check_config_references(template, values, ref.name, where)
        try:
            spec = _map_strings(template.spec, _renderer(context), skip=frozenset({"config"}))
        except ExpressionError as exc:
            raise DefinitionError(f"{where}: template {ref.name!r}: {exc}") from None
        return template.model_copy(update={"spec": spec})

    # ----------------------------------------------------------------- workflow level

    def apply_spec(self, spec: S, where: str) -> S:
        """Resolve a WorkflowSpec or a Parallel (both have use/setup/steps/after)."""
        for i in reversed(range(len(spec.use))):
            template = self.configured(spec.use[i], f"{where}.use[{i}]")
            spec = _inject_spec(spec, template)
        spec = spec.model_copy(update={"use": []})
        services = self.apply_services(spec.services, where)
        updates: dict[str, Any] = {"services": services}
        for field in ("setup", "steps", "after"):
            steps: list[Step] = getattr(spec, field)
            resolved = [self.apply_step(s, f"{where}.{field}[{i}]") for i, s in enumerate(steps)]
            updates[field] = _flatten(resolved)
        return spec.model_copy(update=updates)

    def apply_services(self, services: Mapping[str, Service], where: str) -> dict[str, Service]:
        out: dict[str, Service] = {}
        for name, service in services.items():
            for i in reversed(range(len(service.use))):
                ref_where = f"{where}.services.{name}.use[{i}]"
                template = self.configured(service.use[i], ref_where)
                tspec = template.spec
                if tspec.setup or tspec.steps or tspec.after:
                    raise DefinitionError(
                        f"{ref_where}: template {service.use[i].name!r} has steps; "
                        "a service can only use templates without steps"
                    )
                if tspec.services:
                    raise DefinitionError(
                        f"{ref_where}: template {service.use[i].name!r} has services; "
                        "a service cannot use it"
                    )
                service = _inject_service(service, template)
            out[name] = service.model_copy(update={"use": []})
        return out

    # ----------------------------------------------------------------- step level

    def apply_step(self, step: Step, where: str) -> Step:
        for i in reversed(range(len(step.use))):
            template = self.configured(step.use[i], f"{where}.use[{i}]")
            step = _inject_step(step, template)
        step = step.model_copy(update={"use": []})

        if step.template is not None:
            template = self.configured(step.template, f"{where}.template")
            isolate = _inject_step(Step(), template)
            if isolate.setup or isolate.steps:
                if isolate.container is None and isolate.content is None:
                    inserted = [*isolate.setup, *isolate.steps]
                else:
                    inserted = [isolate]
                step = step.model_copy(update={"steps": [*inserted, *step.steps]})
            step = step.model_copy(update={"template": None})

        updates: dict[str, Any] = {}
        if step.services:
            updates["services"] = self.apply_services(step.services, where)
        if step.parallel is not None:
            updates["parallel"] = self.apply_parallel(step.parallel, f"{where}.parallel")
        updates["setup"] = [
            self.apply_step(s, f"{where}.setup[{i}]") for i, s in enumerate(step.setup)
        ]
        updates["steps"] = [
            self.apply_step(s, f"{where}.steps[{i}]") for i, s in enumerate(step.steps)
        ]
        return step.model_copy(update=updates)

    def apply_parallel(self, parallel: Parallel, where: str) -> Parallel:
        if parallel.template is not None:
            # Testkube moves the template and the operations into a first sub-step
            moved = {
                name: getattr(parallel, name)
                for name in (
                    "paused",
                    "negative",
                    "optional",
                    "retry",
                    "timeout",
                    "delay",
                    "shell",
                    "run",
                    "execute",
                    "artifacts",
                    "template",
                )
            }
            first = Step(**moved)
            cleared = {name: Parallel.model_fields[name].get_default() for name in moved}
            parallel = parallel.model_copy(update={**cleared, "steps": [first, *parallel.steps]})
        return self.apply_spec(parallel, where)


def resolve_templates(
    workflow: TestWorkflow, templates: Mapping[str, TestWorkflowTemplate]
) -> TestWorkflow:
    """Return ``workflow`` with every ``use`` and step ``template`` applied.

    ``templates`` maps names to templates (``official--k6--v1`` or ``official/k6/v1``;
    the templates' own ``metadata.name`` is indexed too). The input is not modified.
    """
    resolver = _Resolver(templates)
    try:
        spec = resolver.apply_spec(workflow.spec.model_copy(deep=True), "spec")
    except RecursionError:
        name = workflow.metadata.name
        raise DefinitionError(
            f"workflow {name!r}: templates nested too deeply (recursive template?)"
        ) from None
    return workflow.model_copy(update={"spec": spec})


# --------------------------------------------------------------------------- config


def _cast(value: Any, param: ParamSpec | None, name: str, where: str) -> Any:
    if param is None or (isinstance(value, str) and "{{" in value):
        return value
    try:
        if param.type == "integer":
            return (
                value if isinstance(value, int) and not isinstance(value, bool) else int(str(value))
            )
        if param.type == "number":
            return float(value)
        if param.type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(value)
    except (TypeError, ValueError):
        raise DefinitionError(
            f"{where}: config.{name}: {value!r} is not a valid {param.type}"
        ) from None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _config_values(template: TestWorkflowTemplate, ref: TemplateRef, where: str) -> dict[str, Any]:
    params = template.spec.config
    values: dict[str, Any] = {}
    for name, param in params.items():
        if param.default is not None:
            values[name] = _cast(param.default, param, name, where)
    for name, value in ref.config.items():
        values[name] = _cast(value, params.get(name), name, where)
    return values


def _check_config_references(
    template: TestWorkflowTemplate, values: Mapping[str, Any], name: str, where: str
) -> None:
    """Testkube fails on a ``config.X`` of the template that has no value."""
    missing: set[str] = set()

    def check(text: str, expression: bool) -> str:
        if "config." in text:
            refs = references(text, template=not expression or "{{" in text)
            for ref in refs:
                parts = ref.split(".")
                if parts[0] == "config" and len(parts) > 1 and parts[1] not in values:
                    missing.add(parts[1])
        return text

    _map_strings(template.spec, check, skip=frozenset({"config"}))
    if missing:
        listed = ", ".join(f"config.{m}" for m in sorted(missing))
        raise DefinitionError(
            f"{where}: template {name!r} needs {listed} (no default and not given in `config`)"
        )


def _renderer(context: Mapping[str, Any]) -> Callable[[str, bool], str]:
    def apply(text: str, expression: bool) -> str:
        if expression and "{{" not in text:
            if "config." not in text:
                return text
            return simplify(text, context)[0]
        return render(text, context, strict=False)

    return apply


def _map_strings(
    value: M,
    fn: Callable[[str, bool], str],
    *,
    skip: frozenset[str] = frozenset(),
) -> M:
    """Copy of a model with every string passed through ``fn(text, is_expression)``.

    Expression fields (``condition``, ``count`` ... and the string values of
    ``matrix``/``shards``) are bare expressions; every other string is a template.
    """

    def visit(item: Any, field: str | None, raw: bool) -> Any:
        if isinstance(item, str):
            return fn(item, raw)
        if isinstance(item, BaseModel):
            updates = {}
            for name in type(item).model_fields:
                if name in skip and item is value:
                    continue
                current = getattr(item, name)
                new = visit(current, name, name in _EXPRESSION_FIELDS)
                if new is not current:
                    updates[name] = new
            return item.model_copy(update=updates) if updates else item
        if isinstance(item, dict):
            in_raw_map = field in _RAW_MAPS
            out = {k: visit(v, field, in_raw_map and isinstance(v, str)) for k, v in item.items()}
            return out if any(out[k] is not item[k] for k in item) else item
        if isinstance(item, list):
            items = [visit(v, field, False) for v in item]
            return items if any(a is not b for a, b in zip(items, item, strict=True)) else item
        return item

    result: M = visit(value, None, False)
    return result


# --------------------------------------------------------------------------- merging


def _merge_env(first: list[Any], second: list[Any]) -> list[Any]:
    merged: dict[str, Any] = {}
    for entry in [*first, *second]:
        merged[entry.name] = entry
    return list(merged.values())


def _merge_maps(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if a is None and b is None:
        return None
    return {**(a or {}), **(b or {})}


def _merge_kube(a: Any, b: Any) -> Any:
    """Merge Kubernetes fragments: maps recursively, lists concatenated, ``b`` wins."""
    if b is None:
        return a
    if a is None:
        return b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = dict(a)
        for key, value in b.items():
            out[key] = _merge_kube(a.get(key), value) if key in a else value
        return out
    if isinstance(a, list) and isinstance(b, list):
        return [*a, *b]
    return b


def _merge_container(base: Container | None, over: Container | None) -> Container | None:
    """Testkube's MergeContainerConfig: ``over`` (the workflow or step) wins."""
    if base is None:
        return over
    if over is None:
        return base
    updates: dict[str, Any] = {
        "env": _merge_env(base.env, over.env),
        "env_from": [*base.env_from, *over.env_from],
        "volume_mounts": [*base.volume_mounts, *over.volume_mounts],
        "resources": _merge_kube(base.resources, over.resources),
        "security_context": _merge_kube(base.security_context, over.security_context),
    }
    for name in ("working_dir", "image_pull_policy"):
        if getattr(over, name) is not None:
            updates[name] = getattr(over, name)
    if over.image:
        updates.update(image=over.image, command=over.command, args=over.args)
    elif over.command is not None:
        updates.update(command=over.command, args=over.args)
    elif over.args is not None:
        updates["args"] = over.args
    return base.model_copy(update=updates)


def _merge_content(base: Content | None, over: Content | None) -> Content | None:
    if base is None:
        return over
    if over is None:
        return base
    return Content(
        git=over.git if over.git is not None else base.git,
        files=[*base.files, *over.files],
        tarball=[*base.tarball, *over.tarball],
    )


def _merge_job(base: Job | None, over: Job | None) -> Job | None:
    if base is None:
        return over
    if over is None:
        return base
    return Job(
        active_deadline_seconds=(
            over.active_deadline_seconds
            if over.active_deadline_seconds is not None
            else base.active_deadline_seconds
        ),
        labels={**base.labels, **over.labels},
        annotations={**base.annotations, **over.annotations},
        namespace=over.namespace or base.namespace,
    )


def _inject_spec(spec: S, template: TestWorkflowTemplate) -> S:
    """Testkube's injectTemplateToSpec (``spec`` is a WorkflowSpec or Parallel)."""
    t: WorkflowSpec = template.spec
    s: Any = spec
    updates: dict[str, Any] = {
        "pod": _merge_kube(t.pod, s.pod),
        "job": _merge_job(t.job, s.job),
        "events": [*t.events, *s.events],
        "content": _merge_content(t.content, s.content),
        "services": {**t.services, **s.services},
        "container": _merge_container(t.container, s.container),
        "system": _merge_kube(t.system, s.system),
        "setup": [*t.setup, *s.setup],
        "steps": [*t.steps, *s.steps],
        "after": [*s.after, *t.after],
    }
    if isinstance(spec, WorkflowSpec):
        updates["execution"] = _merge_kube(t.execution, spec.execution)
        updates["concurrency"] = spec.concurrency if spec.concurrency is not None else t.concurrency
    return spec.model_copy(update=updates)


def _inject_step(step: Step, template: TestWorkflowTemplate) -> Step:
    """Testkube's InjectStepTemplate."""
    t = template.spec
    updates: dict[str, Any] = {
        "content": _merge_content(t.content, step.content),
        "services": {**t.services, **step.services},
        "container": _merge_container(t.container, step.container),
    }
    if t.setup or t.steps or t.after:
        updates["setup"] = [*t.setup, *step.setup]
        updates["steps"] = [*t.steps, *step.steps, *t.after]
    return step.model_copy(update=updates)


_CONTAINER_FIELDS = tuple(Container.model_fields)


def _inject_service(service: Service, template: TestWorkflowTemplate) -> Service:
    """Testkube's InjectServiceTemplate."""
    t = template.spec
    own = Container.model_validate(
        {name: getattr(service, name) for name in _CONTAINER_FIELDS}, from_attributes=False
    )
    merged = _merge_container(t.container, own)
    updates: dict[str, Any] = {
        "pod": _merge_kube(t.pod, service.pod),
        "content": _merge_content(t.content, service.content),
    }
    if merged is not None:
        updates.update({name: getattr(merged, name) for name in _CONTAINER_FIELDS})
    return service.model_copy(update=updates)


def _is_only_children(step: Step) -> bool:
    data = step.model_dump(exclude_defaults=True, exclude={"setup", "steps"})
    return not data and step.stop_on_failure


def _flatten(steps: list[Step]) -> list[Step]:
    """Testkube's FlattenStepList: a step with only sub-steps is replaced by them."""
    out: list[Step] = []
    for step in steps:
        if _is_only_children(step) and (step.setup or step.steps):
            out += [*step.setup, *step.steps]
        else:
            out.append(step)
    return out
