"""docs/architecture.md is the map a newcomer follows: it has the sections a newcomer needs, every module of
sync_core is on its package map, and every file, class and function it names in code exists. A rename that
leaves the map behind fails here, with the name."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()
SECTIONS = ("How a run flows", "The Plan interface", "The destination contract and its capabilities",
            "The state layout", "The sandbox", "Destination HTTP clients", "Adding a destination", "Package map")
SOURCE_DIRS = ("sync_core", "tests", "bench", "ui", "pages")


def repo_files() -> list[str]:
    found = [str(p.relative_to(ROOT)) for d in SOURCE_DIRS for p in (ROOT / d).rglob("*") if p.is_file()]
    return found + [p.name for p in ROOT.iterdir() if p.is_file()] + ["docs/benchmarks.md", "docs/architecture.md"]


def source_words() -> set[str]:
    files = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]
    return {w for p in files for w in re.findall(r"\w+", p.read_text(encoding="utf-8"))} | {p.stem for p in files}


def code_spans() -> list[str]:
    """The inline code of the prose and tables (fenced blocks apart), less names cut short (`test_a_run_…`)."""
    prose = re.sub(r"```.*?```", "", DOC, flags=re.S)
    return [s for s in re.findall(r"`([^`\n]+)`", prose) if "…" not in s and "..." not in s]


def test_the_map_has_the_sections_a_newcomer_needs():
    headings = set(re.findall(r"^#+ (.+)$", DOC, re.M))
    assert not [s for s in SECTIONS if s not in headings], headings


def test_every_module_of_sync_core_is_on_the_package_map():
    package_map = set(re.findall(r"`([^`]+)`", DOC[DOC.index("## Package map"):]))
    modules = [p.name if p.suffix == ".py" else p.name + "/" for p in (ROOT / "sync_core").iterdir()
               if p.suffix == ".py" and p.name != "__init__.py" or (p / "__init__.py").exists()]
    assert not [m for m in sorted(modules) if m not in package_map]


def test_every_file_it_names_exists():
    files = repo_files()
    named = {path for span in code_spans() for path in re.findall(r"[\w./-]+\.py\b", span)}
    missing = [n for n in sorted(named) if not any(f == n or f.endswith("/" + n) for f in files)]
    assert not missing
    # and it cites no document the repository does not hold (a design note kept elsewhere)
    documents = set(re.findall(r"[\w/-]+\.md\b", DOC))
    assert documents and not [d for d in sorted(documents) if not (ROOT / d).is_file()]


def test_every_class_function_and_key_it_names_exists_in_the_code():
    words = source_words()
    # Code-like names only: CamelCase (a class) or with an underscore (a function, a key, a table, a constant).
    names = {n for span in code_spans() for n in re.findall(r"[A-Za-z_]\w*", span)
             if re.fullmatch(r"[A-Z][a-z0-9]+[A-Z]\w*", n) or "_" in n.strip("_")}
    assert not sorted(names - words)


def test_every_call_in_the_run_flow_is_a_function_of_sync_core():
    defined = {d for p in (ROOT / "sync_core").rglob("*.py")
               for d in re.findall(r"^\s*def (\w+)", p.read_text(encoding="utf-8"), re.M)}
    calls = {name for block in re.findall(r"```\n(.*?)```", DOC, re.S)
             for name in re.findall(r"\b[A-Za-z_]+\.(\w+)\(", block)}
    assert calls and not sorted(calls - defined)
