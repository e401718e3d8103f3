"""Testkube-style ``{{ }}`` expressions, evaluated in a Jinja sandbox.

The language is Testkube's (``pkg/expressions``): a small JSON-based expression
syntax, parsed here into a tree and then compiled to a Jinja expression that
only calls the helper functions of this package, run by jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`. Nothing is ever passed
to Python's ``eval``; attribute access on Python objects is impossible (a dot
only reads a key of a mapping or an index of a list), and names containing
``__`` are refused outright.

Syntax
    literals      ``"text"`` (JSON escapes; ``'text'`` also accepted), ``12``, ``1.5``,
                  ``true``, ``false``, ``null``, JSON lists/objects ``[1, 2]``, ``{"a": 1}``
    variables     ``config.X``, ``env.X``, ``execution.id``, ``workflow.name``,
                  ``matrix.X``, ``shard.X``, ``index``, ``count``, ``services.db.0.ip``
                  (``.0`` indexes a list; ``services.x.*.ip`` collects ``ip`` of every item)
    operators     ``!x``, ``-x``, ``**``, ``* / %``, ``+ -``,
                  ``== = != <> < <= > >=``, ``&& ||`` (same priority, left to right,
                  as in Testkube), ``cond ? a : b``
    calls         ``name(arg, ...)`` of the functions in :data:`FUNCTIONS`

Semantics (as in Testkube)
    * ``==``/``!=`` compare the *string* forms (``1 == "1"``, ``true == "true"``);
      ``< <= > >=`` compare numbers; ``+`` concatenates when either side is a
      string, otherwise adds; ``- * / % **`` are arithmetic (``/`` and ``%`` by
      zero are errors).
    * ``&&``/``||`` return one of their operands, judged by :func:`is_truthy`
      (``""``, ``"false"``, ``"0"``, ``"off"``, ``0``, ``null``, empty lists/maps are false).
    * rendering a value into text (:func:`to_string`): ``null`` -> ``""``,
      booleans -> ``true``/``false``, integral numbers without ``.0``, lists ->
      items joined with ``,`` (so ``-R {{ services.slave.*.ip }}`` gives
      ``10.0.0.1,10.0.0.2`` as in Testkube), maps -> JSON. Use ``tojson(x)``
      for JSON lists.
    * an unknown top-level variable, or an unknown key directly under a
      top-level mapping (``config.typo``), is an error; ``env.X`` of an unset
      variable is ``""``; a missing key deeper down (``matrix.case.title``) is
      ``null``, so ``matrix.case.title || matrix.case.id`` works.

Modes
    :func:`render` and :func:`evaluate` are strict by default: anything that
    cannot be resolved raises :class:`~assay.errors.ExpressionError`, whose
    message quotes the expression. ``render(..., strict=False)`` resolves what
    it can and leaves the rest in place, simplified (``{{ config.n * count }}``
    with ``config.n = 2`` becomes ``{{2*count}}``; an expression it cannot use
    at all is left verbatim). Sandbox violations are errors in both modes.

Step conditions use the same language: the engine puts ``always``, ``never``,
``passed``, ``failed`` ... in the context and calls :func:`evaluate`.

Parts
    :mod:`.tokenizer` and :mod:`.parser` turn an expression into a tree, :mod:`.emitter`
    compiles a tree to sandboxed Jinja, :mod:`.evaluation` runs it over :mod:`.values` and
    :mod:`.functions`, :mod:`.simplify` folds what is known, :mod:`.rendering` handles
    ``{{ }}`` in text.  Import the public names from this package; names with a leading
    underscore are shared between its parts only.
"""

from __future__ import annotations

from assay.spec.expressions.evaluation import evaluate
from assay.spec.expressions.functions import FUNCTIONS
from assay.spec.expressions.rendering import find_expressions, references, render
from assay.spec.expressions.simplify import simplify
from assay.spec.expressions.values import is_truthy, to_string

__all__ = [
    "FUNCTIONS",
    "evaluate",
    "find_expressions",
    "is_truthy",
    "references",
    "render",
    "simplify",
    "to_string",
]
