"""Template variables: what a version declares, what it uses, and what a send must provide.

Saving a version checks that every name it uses (its parts and the partials they include) is declared, that
an optional variable is never used without a guard (`| default(...)`, `is defined`), and that it renders with
its own sample data. A send is checked against the declarations before any row exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from types import SimpleNamespace
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from commhub import channels
from commhub.channels import TEMPLATE_PARTS

from .models import VARIABLE_TYPES
from .rendering import (
    RESERVED_NAMES,
    RenderedMessage,
    RenderError,
    build_context,
    missing_variables,
    render_version,
    required_paths,
    unguarded_recipient_attributes,
)
from .selectors import partial_sources
from .syntax import TemplateSyntaxProblem, check_syntax, parsed

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _partials_used(sources: Iterable[str], seen: set[str] | None = None) -> dict[str, str]:
    """Partials reachable from `sources` (name -> source), following includes inside partials too."""
    found: dict[str, str] = {}
    seen = seen if seen is not None else set()
    known = partial_sources()
    for source in sources:
        if not source:
            continue
        for name in meta.find_referenced_templates(parsed(source)):
            if name and name not in seen and name in known:
                seen.add(name)
                found[name] = known[name]
                found.update(_partials_used([known[name]], seen))
    return found


def used_names(sources: Iterable[str]) -> set[str]:
    """Every data name the sources (and the partials they include) read."""
    sources = [s for s in sources if s]
    names: set[str] = set()
    for source in [*sources, *_partials_used(sources).values()]:
        names |= meta.find_undeclared_variables(parsed(source))
    return names - RESERVED_NAMES - {"range", "dict", "namespace", "cycler", "joiner"}


def reads_recipient(sources: Iterable[str]) -> bool:
    """Whether the sources (or the partials they include) read `recipient`: if not, a render depends on the
    data alone."""
    sources = [s for s in sources if s]
    return any(
        "recipient" in meta.find_undeclared_variables(parsed(source))
        for source in [*sources, *_partials_used(sources).values()]
    )


def unguarded_names(sources: Iterable[str]) -> set[str]:
    """Top-level names used at least once without a default or an `is defined` guard."""
    return {path[0] for source in sources if source for path in required_paths(source)}


def declaration_problems(variables: Any) -> list[str]:
    if not isinstance(variables, list):
        return ["Variables must be a list of {name, type, required, sample} objects."]
    problems, names = [], set()
    for index, spec in enumerate(variables):
        where = f"variable #{index + 1}"
        if not isinstance(spec, dict):
            problems.append(f"{where} must be an object.")
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            problems.append(f"{where}: {name!r} is not a valid name (letters, digits, _).")
            continue
        if name in RESERVED_NAMES:
            problems.append(f"'{name}' is provided by commhub and cannot be declared.")
        if name in names:
            problems.append(f"'{name}' is declared twice.")
        names.add(name)
        if spec.get("type", "string") not in VARIABLE_TYPES:
            problems.append(f"'{name}': type must be one of {', '.join(VARIABLE_TYPES)}.")
        if not isinstance(spec.get("required", True), bool):
            problems.append(f"'{name}': required must be true or false.")
        unknown = set(spec) - {"name", "type", "required", "sample", "description"}
        if unknown:
            problems.append(f"'{name}': unknown keys {sorted(unknown)}.")
    return problems


def version_problems(version, *, channel: str) -> dict[str, list[str]]:
    """Why this version cannot be saved or published, by field; empty when it is fine."""
    problems: dict[str, list[str]] = {}
    spec = channels.get(channel)
    for part in TEMPLATE_PARTS:
        source = getattr(version, part)
        if source and part not in spec.parts:
            problems.setdefault(part, []).append(f"A {channel} template has no {part}.")
        try:
            check_syntax(source)
        except TemplateSyntaxProblem as exc:
            problems.setdefault(part, []).append(str(exc))
            continue
        for path in sorted(unguarded_recipient_attributes(source)):
            problems.setdefault(part, []).append(
                f"{path} is used without a guard, so every recipient without that attribute would fail: write "
                f"{{{{ {path} | default('') }}}} or wrap it in {{% if {path} is defined %}}...{{% endif %}}."
            )
    for part, lacking in spec.content_problems({part: getattr(version, part) for part in spec.parts}).items():
        problems.setdefault(part, []).extend(lacking)
    declaration = declaration_problems(version.variables)
    if declaration:
        problems["variables"] = declaration
    if problems:
        return problems

    sources = [version.subject, version.text, version.html]
    declared = version.declared()
    try:
        undeclared = sorted(used_names(sources) - set(declared))
        unguarded_optional = sorted(
            name for name in unguarded_names(sources) if name in declared and not declared[name].get("required", True)
        )
    except (TemplateSyntaxError, TemplateSyntaxProblem) as exc:
        return {"variables": [f"A partial does not compile: {exc}"]}
    for name in undeclared:
        problems.setdefault("variables", []).append(f"'{name}' is used but not declared.")
    for name in unguarded_optional:
        problems.setdefault("variables", []).append(
            f"'{name}' is optional but used without a guard: add `| default(...)` or mark it required."
        )
    if problems:
        return problems
    try:
        rendered = _render_with_samples(version)
    except RenderError as exc:
        problems["variables"] = [f"Does not render with its sample data: {exc}"]
        return problems
    return spec.rendered_problems(rendered)


def sample_recipient() -> SimpleNamespace:
    """Who previews and the save-time render check address when no real recipient is chosen."""
    return SimpleNamespace(
        pk=None,
        external_id="sample",
        email="sample@example.com",
        phone="+14155550100",
        locale="en",
        timezone="UTC",
        attributes={"first_name": "Sam"},
    )


def _render_with_samples(version) -> RenderedMessage:
    context = build_context(data=version.sample_data(), recipient=sample_recipient())
    return render_version(version, context={**context, "unsubscribe_url": "https://example.com/unsubscribe/sample/"})


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "date":
        try:
            date.fromisoformat(str(value)[:10])
        except ValueError:
            return False
        return True
    return True


def data_problems(version, data: Mapping[str, Any]) -> dict[str, list[str]]:
    """What a send's data lacks or gets wrong, by variable name (the 400 at submit)."""
    problems: dict[str, list[str]] = {}
    for name, spec in version.declared().items():
        if name not in data or data[name] is None:
            if spec.get("required", True):
                problems[name] = ["This variable is required by the template."]
            continue
        kind = spec.get("type", "string")
        if not _type_ok(kind, data[name]):
            problems[name] = [f"Expected a {kind}."]
    # nested paths the template reads (account.name) must exist too
    for path in missing_variables((version.subject, version.text, version.html), data):
        if path.split(".")[0] not in problems and path.split(".")[0] in version.declared():
            problems[path] = ["This variable is required by the template."]
    return problems


def infer_declarations(sources: Iterable[str], samples: Mapping[str, Any] | None = None) -> list[dict]:
    """Declarations for existing sources (the catalogue, migrated templates): every used name, required when
    some use of it is unguarded, typed as strings (a list or an object when its sample is one: a digest's
    items), with a sample when one is known."""
    sources = [s for s in sources if s]
    required = unguarded_names(sources)
    samples = samples or {}

    def kind(name: str) -> str:
        sample = samples.get(name)
        return "list" if isinstance(sample, list) else "object" if isinstance(sample, dict) else "string"

    return [
        {"name": name, "type": kind(name), "required": name in required, "sample": samples.get(name, f"<{name}>")}
        for name in sorted(used_names(sources))
    ]
