"""The package's layers, read from its source: no import cycle, no upward import, no Streamlit in sync_core, and
no module over 600 lines. A newcomer who adds an import or a module that breaks them hears it here, with the
module named."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "sync_core"

# A module under the key must not import any module under the values: the lower layers never reach up.
FORBIDDEN = {
    "sync_core.state": ("sync_core.runner", "sync_core.run_context", "sync_core.planner", "sync_core.executor",
                        "sync_core.history", "sync_core.cli", "sync_core.launcher", "sync_core.destinations",
                        "sync_core.sandbox"),
    "sync_core.destinations": ("sync_core.runner", "sync_core.run_context", "sync_core.planner",
                               "sync_core.state", "sync_core.history", "sync_core.cli", "sync_core.sandbox"),
    "sync_core.sandbox": ("sync_core.runner", "sync_core.planner", "sync_core.destinations", "sync_core.state",
                          "sync_core.history", "sync_core.cli"),
    "sync_core.config": ("sync_core.runner", "sync_core.state", "sync_core.planner"),
    # A source runs a model and yields its rows: it knows nothing of plans, runs, destinations or their state
    "sync_core.sources": ("sync_core.runner", "sync_core.run_context", "sync_core.planner", "sync_core.executor",
                          "sync_core.destinations", "sync_core.state", "sync_core.history", "sync_core.cli"),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of sync_core (and any other top-level package) a module imports, wherever in the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            submodules = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            out |= submodules if len(submodules) == len(node.names) else {target} | submodules
    return out - {name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_sync_core_never_imports_streamlit_or_the_dashboard():
    for name, targets in graph().items():
        assert not {t for t in targets if under(t, "streamlit") or under(t, "ui")}, name


def test_no_lower_layer_imports_a_higher_one():
    for name, targets in graph().items():
        for layer, above in FORBIDDEN.items():
            if under(name, layer):
                reached = sorted(t for t in targets if any(under(t, a) for a in above))
                assert not reached, f"{name} imports {reached}"


def test_no_import_cycle():
    edges = {name: {t for t in targets if t.startswith("sync_core")} for name, targets in graph().items()}
    seen, on_path = set(), []

    def visit(node: str) -> None:
        if node in on_path:
            raise AssertionError("import cycle: " + " -> ".join(on_path[on_path.index(node):] + [node]))
        if node in seen:
            return
        on_path.append(node)
        for target in sorted(edges.get(node, ())):
            visit(target)
        on_path.pop()
        seen.add(node)

    for module in sorted(edges):
        visit(module)


MOST_LINES = 600  # one concept per module: past this, a module holds two


def test_no_module_of_the_product_is_over_600_lines():
    product = [p for top in ("sync_core", "ui", "pages") for p in (ROOT.parent / top).rglob("*.py")]
    long = {str(p.relative_to(ROOT.parent)): n for p in product + [ROOT.parent / "app.py"]
            if (n := len(p.read_text().splitlines())) > MOST_LINES}
    assert not long, f"split these modules: {long}"
