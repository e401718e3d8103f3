"""``{{ }}`` expressions decided before a Pod exists: text, environment, conditions.

Everything a container needs is rendered when the objects are made: config, execution and
worker variables are known then. What only the cluster knows stays a reference: a variable
whose value comes from a Secret or ConfigMap is ``$(NAME)`` in commands and values (Kubernetes
expands it in the container), and every other ``$(`` is escaped as ``$$(``. Conditions become
one of the five words the entry script knows (``always``, ``never``, ``passed``, ``failed``,
``notfailed``): an expression is evaluated for both "nothing failed" and "something failed".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from assay.errors import DefinitionError, ExpressionError
from assay.spec.base import parse_duration
from assay.spec.expressions import evaluate, is_truthy, references, render
from assay.spec.workflow import EnvVar

__all__ = ["KubeEnv", "decide_condition", "decide_until", "seconds"]

_REFERENCE = "\x00assay-env:{}\x00"
_REFERENCE_PATTERN = re.compile("\x00assay-env:([^\x00]*)\x00")
_KEYWORDS = ("always", "never", "passed", "failed")
_DECIDED = {
    (True, True): "always",
    (False, False): "never",
    (True, False): "notfailed",
    (False, True): "failed",
}


class KubeEnv:
    """A container's environment as Kubernetes ``EnvVar`` objects, and the context in which
    its ``{{ }}`` expressions render."""

    def __init__(self, context: Mapping[str, Any], variables: Sequence[EnvVar] = ()) -> None:
        self.context = dict(context)
        self.literal: dict[str, str] = {}
        self.referenced: set[str] = set()
        self.objects: dict[str, dict[str, Any]] = {}
        for variable in variables:
            self.add(variable)

    def add(self, variable: EnvVar) -> None:
        """One variable; a later one of the same name replaces an earlier one."""
        self.objects.pop(variable.name, None)
        if variable.value_from is not None:
            source = variable.value_from.model_dump(
                by_alias=True, exclude_none=True, exclude_defaults=True
            )
            self.objects[variable.name] = {"name": variable.name, "valueFrom": source}
            self.referenced.add(variable.name)
            self.literal.pop(variable.name, None)
            return
        value = self.text(variable.value or "")
        self.objects[variable.name] = {"name": variable.name, "value": value}
        self.literal[variable.name] = value
        self.referenced.discard(variable.name)

    def expression_context(self) -> dict[str, Any]:
        env = {name: _REFERENCE.format(name) for name in self.referenced}
        return {**self.context, "env": {**env, **self.literal}}

    def text(self, text: str) -> str:
        """``text`` rendered, ``$(`` escaped, referenced variables as ``$(NAME)``."""
        try:
            rendered = render(text, self.expression_context())
        except ExpressionError as exc:
            raise DefinitionError(str(exc)) from None
        escaped = rendered.replace("$(", "$$(")
        return _REFERENCE_PATTERN.sub(lambda found: f"$({found.group(1)})", escaped)

    def list(self) -> list[dict[str, Any]]:
        """The ``env`` list of the container."""
        return list(self.objects.values())


def _decide(
    expression: str, contexts: Sequence[Mapping[str, Any]], env: KubeEnv, where: str
) -> tuple[bool, bool]:
    """``expression``'s truth in the two ``contexts``."""
    found = references(expression, template=False)
    reads = {name.split(".")[1] for name in found if name.startswith("env.")}
    late = sorted(reads & env.referenced)
    if late:
        raise DefinitionError(
            f"{where} {expression!r} reads env.{late[0]}, which comes from a Secret or "
            "ConfigMap: the Kubernetes runner decides conditions before the Pod starts"
        )
    try:
        first, second = (is_truthy(evaluate(expression, context)) for context in contexts)
    except ExpressionError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    return first, second


def decide_condition(condition: str | None, env: KubeEnv, where: str) -> str:
    """The entry script's word for a step condition (default ``passed``)."""
    text = (condition or "passed").strip()
    if text in _KEYWORDS:
        return text
    base = env.expression_context()
    contexts = [
        {**base, "passed": not failed, "failed": failed, "always": True, "never": False}
        for failed in (False, True)
    ]
    return _DECIDED[_decide(text, contexts, env, f"{where}: condition")]


def decide_until(until: str | None, env: KubeEnv, where: str) -> str:
    """The entry script's word for ``retry.until``: when the retries stop."""
    if until is None:
        return "passed"
    base = env.expression_context()
    contexts = [{**base, "passed": passed, "failed": not passed} for passed in (True, False)]
    done_when_passed, done_when_failed = _decide(until, contexts, env, f"{where}: retry.until")
    return {
        (True, False): "passed",
        (False, True): "failed",
        (True, True): "always",
        (False, False): "never",
    }[(done_when_passed, done_when_failed)]


def seconds(duration: str | None, env: KubeEnv, where: str) -> int | None:
    """A duration field rendered and rounded up to whole seconds (at least 1)."""
    if duration is None:
        return None
    try:
        value = parse_duration(env.text(duration))
    except ValueError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    return max(1, math.ceil(value))
