"""The product's code has no unused import or variable, no undefined name and no dead f-string (pyflakes): a
newcomer's leftover import or misspelt name is named here, file and line, before review."""

from __future__ import annotations

from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["sync_core", "pages", "ui", "bench", "app.py"]


class _Collected:
    def __init__(self):
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.extend(line for line in text.splitlines() if line.strip())


def test_the_products_code_is_clean_by_pyflakes():
    messages = _Collected()
    reporter = Reporter(messages, messages)
    files = [p for name in CHECKED for p in ([ROOT / name] if name.endswith(".py") else (ROOT / name).rglob("*.py"))]
    assert len(files) > 100
    for path in files:
        checkPath(str(path), reporter)
    assert messages.lines == []
