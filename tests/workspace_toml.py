"""workspace.toml text for tests, built section by section: one place that knows how a source, a destination, a
model and a sync are written, so each test states only what it varies. The text is plain TOML, one key a line,
so tests that edit it with str.replace find the line they name.

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations


def value(v) -> str:
    """A TOML value: text quoted, numbers and booleans as they are."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, (int, float)) else f'"{v}"'


def section(header: str, keys: dict, extra: str = "") -> str:
    """`[header]`, then `key = value` a line, then `extra` (raw TOML lines) if given."""
    lines = [f"[{header}]", *(f"{k} = {value(v)}" for k, v in keys.items() if v is not None)]
    return "\n".join(lines + ([extra.strip("\n")] if extra.strip() else [])) + "\n"


def duckdb_source(name: str = "wh", path: str = "wh.duckdb") -> str:
    return section(f"sources.{name}", {"type": "duckdb", "path": path})


def inline_source(name: str = "wh", more: str = "", **keys) -> str:
    """`sources.<name> = { ... }` on one line, by default the DuckDB file wh.duckdb: tests that read another
    warehouse swap that one line. `more`: raw `, key = value` text at the end of the braces."""
    listed = ", ".join(f"{k} = {value(v)}" for k, v in (keys or {"type": "duckdb", "path": "wh.duckdb"}).items())
    return f"sources.{name} = {{ {listed}{more} }}\n"


def iterable(api_key: str = "env:ITERABLE_API_KEY", name: str = "iterable", extra: str = "", **keys) -> str:
    return section(f"destinations.{name}", {"type": "iterable", **keys, "api_key": api_key}, extra)


def marketo(client_secret: str = "env:MARKETO_CLIENT_SECRET", name: str = "marketo", extra: str = "", **keys) -> str:
    """`keys` give the instance: munchkin_id, or base_url."""
    return section(f"destinations.{name}", {"type": "marketo", **keys, "client_id": "env:MARKETO_CLIENT_ID",
                                            "client_secret": client_secret}, extra)


def model(sql: str, name: str = "people", source: str = "wh", primary_key: str = "email") -> str:
    return section(f"models.{name}", {"source": source, "sql": sql, "primary_key": primary_key})


def sync(sync_id: str, *, mappings: list[tuple[str, str]] | None, name: str | None = None, model: str = "people",
         destination: str = "iterable", object: str = "user", mode: str = "update",
         match: tuple[str, str] = ("email", "email"), extra: str = "", **keys) -> str:
    """A sync; `keys` are its object's keys (event_name, list_id, activity_type...), `match` is (field, column),
    `mappings` (column, field) pairs (None: no mappings key), `extra` raw lines at the end."""
    listed = ", ".join(f'{{ column = "{c}", field = "{f}" }}' for c, f in mappings or ())
    lines = [f"match = {{ field = \"{match[0]}\", column = \"{match[1]}\" }}"]
    lines += [f"mappings = [{listed}]"] if mappings is not None else []
    return section(f"syncs.{sync_id}", {"name": name, "model": model, "destination": destination, "object": object,
                                        "mode": mode, **keys}, "\n".join(lines + [extra.strip("\n")]))


def expected_error(sync_id: str, code: str, reason: str) -> str:
    return section(f"[syncs.{sync_id}.expected_errors]", {"code": code, "reason": reason})


def workspace(*sections: str) -> str:
    """The file: its sections, a blank line between them."""
    return "\n" + "\n".join(sections)


def added_after(line: str, *added: str) -> tuple[str, str]:
    """An edit for str.replace, as (old, new): `line`, kept, with the `added` lines after it."""
    return line, "\n".join((line, *added))


def removed(line: str) -> tuple[str, str]:
    """An edit for str.replace, as (old, new): `line` gone, with its line end."""
    return f"{line}\n", ""
