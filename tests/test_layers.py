"""The apps form layers without a cycle (house rule 19), read from the source with `ast`:

    commhub (core)   channels, conf, errors, queues, ... : imports no app
    audit            the audit trail every app writes to
    orgs             organisations and memberships (the scoping itself is commhub.tenancy's)
    preferences      recipients, consent, suppressions, the person checks
    costs            prices, the ledger, budgets
    templates_app    templates and rendering
    notifications    types, notifications, the send path
    inbox, push,     the in-app channel and its inbox; the push channel; outbound webhooks, the webhook
    hooks, calls,    channel and lifecycle events; staff call tasks; events and the rules they trigger
    triggers         (none imports another)
    broadcasts       topics and broadcasts (a rule's topic recipients: it registers with triggers)
    analytics        rollups, dashboard, gauges
    commhub (top)    urls, health, metrics, throttling, the embedded launcher: may import anything

An app imports only the apps listed above it (never one at its own level or below), no module is part of an
import cycle (in-function imports included), and the only imports inside functions are the few Django's app
loading needs, each explained by a comment.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

APPS = (
    "commhub",
    "audit",
    "orgs",
    "preferences",
    "costs",
    "templates_app",
    "notifications",
    "inbox",
    "push",
    "hooks",
    "calls",
    "triggers",
    "broadcasts",
    "analytics",
)
COMMHUB_TOP = {
    "commhub.urls",
    "commhub.health",
    "commhub.metrics",
    "commhub.embedded",
    "commhub.wsgi",
    "commhub.throttling",
}
MAY_IMPORT = {
    "commhub": set(),
    "audit": {"commhub"},
    "orgs": {"commhub", "audit"},
    "preferences": {"commhub", "orgs", "audit"},
    "costs": {"commhub", "orgs", "audit"},
    "templates_app": {"commhub", "orgs", "audit", "preferences", "costs"},
    "notifications": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app"},
    "inbox": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app", "notifications"},
    "push": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app", "notifications"},
    "hooks": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app", "notifications"},
    "calls": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app", "notifications"},
    "triggers": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app", "notifications"},
    "broadcasts": {"commhub", "orgs", "audit", "preferences", "costs", "templates_app", "notifications", "triggers"},
    "analytics": {
        "commhub",
        "orgs",
        "audit",
        "preferences",
        "costs",
        "templates_app",
        "notifications",
        "inbox",
        "push",
        "hooks",
        "calls",
        "triggers",
        "broadcasts",
    },
    "commhub-top": set(APPS),
}


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _owner(name: str) -> str | None:
    """The project module an imported name lives in (a.b.c -> the longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports() -> list[tuple[str, str, bool, ast.stmt]]:
    """(importer, imported module, inside a function?, the import statement) for every project import."""
    out = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        in_function = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
                ]
            for target in targets:
                owner = _owner(target)
                if owner and owner != module:
                    out.append((module, owner, id(node) in in_function, node))
    return out


IMPORTS = _imports()


def _layer(module: str) -> str:
    app = module.split(".")[0]
    return "commhub-top" if module in COMMHUB_TOP else app


def test_every_app_imports_only_the_layers_below_it():
    wrong = sorted(
        f"{importer} imports {imported}"
        for importer, imported, _, _ in IMPORTS
        if imported.split(".")[0] != importer.split(".")[0]
        and imported.split(".")[0] not in MAY_IMPORT[_layer(importer)]
    )
    assert len(IMPORTS) > 200 and not wrong, wrong


def test_commhub_core_imports_no_app_and_the_send_path_no_reporting():
    core = [(i, m) for i, m, _, _ in IMPORTS if _layer(i) == "commhub" and m.split(".")[0] != "commhub"]
    send_path = [
        (i, m) for i, m, _, _ in IMPORTS if i.startswith("notifications.delivery") and m.startswith("analytics")
    ]
    notifications_below = [
        (i, m)
        for i, m, _, _ in IMPORTS
        if i.split(".")[0] in ("costs", "preferences", "templates_app") and m.startswith("notifications")
    ]
    assert not core and not send_path and not notifications_below, (core, send_path, notifications_below)


def test_no_module_is_part_of_an_import_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, _, _ in IMPORTS:
        graph[importer].add(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert len(graph) > 50 and not cycles, cycles


def test_imports_inside_functions_are_only_what_app_loading_needs_and_say_why():
    inside = [(importer, imported, node) for importer, imported, in_function, node in IMPORTS if in_function]
    lines = {module: path.read_text().splitlines() for module, path in MODULES.items()}
    unexplained = []
    for importer, imported, node in inside:
        source = lines[importer]
        said = " ".join(source[max(0, node.lineno - 3) : node.lineno]).lower()
        if not importer.endswith(".apps") or "django" not in said:
            unexplained.append(f"{importer}:{node.lineno} imports {imported}")
    per_app = defaultdict(set)
    for importer, imported, _ in inside:
        per_app[importer].add(imported)
    # one ready() per app with receivers or privacy steps, importing only that app's own modules
    assert inside and not unexplained, unexplained
    assert all(i.split(".")[0] == importer.split(".")[0] for importer, found in per_app.items() for i in found), per_app
    assert len(per_app) <= len(APPS), per_app


SEND_PATH = [
    *sorted((ROOT / "notifications" / "delivery").glob("*.py")),
    *sorted((ROOT / "notifications" / "channels").glob("*.py")),
    *(ROOT / "notifications" / name for name in ("status.py", "decision.py", "queueing.py", "ratelimit.py")),
]


def test_the_send_path_reads_in_one_sitting():
    """No module of the send path over 350 lines, no function over 60."""
    too_long = []
    for path in SEND_PATH:
        source = path.read_text()
        if len(source.splitlines()) > 350:
            too_long.append(f"{path.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}()")
    assert len(SEND_PATH) > 15 and not too_long, too_long
