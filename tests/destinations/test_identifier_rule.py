"""One identifier rule, written for DuckDB, Arrow and Python: the three must spell every identifier alike, or a
key checked one way is matched another (two keys both 'synced' to one user, an existing user missed)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from sync_core.destinations.base import IdentifierRule

SPELLINGS = ["Bob@X.io", " bob@x.io\t", "XΣ@x.io", "xς@x.io", "ΣΑΣ@x.io", "İx@x.io", "i\u0307x@x.io", "ǅemal@x.io",
             "STRASSE@x.io", "straße@x.io", "Ω@x.io", "", "\t", "user@EXAMPLE.COM"]


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_sql_arrow_and_python_spell_every_identifier_alike(case_insensitive):
    rule = IdentifierRule("email", case_insensitive, None)
    with duckdb.connect() as con:
        con.register("t", pa.table({"v": SPELLINGS}))
        in_sql = [v for (v,) in con.execute(f"SELECT {rule.sql('v')} FROM t").fetchall()]
        keys = [v.strip(" \t") for v in SPELLINGS]  # keys arrive trimmed: fold_sql must then agree too
        con.register("k", pa.table({"v": keys}))
        folded = [v for (v,) in con.execute(f"SELECT {rule.fold_sql('v')} FROM k").fetchall()]
    in_arrow = rule.arrow(pa.array(SPELLINGS)).to_pylist()
    in_python = [rule.python(v) for v in SPELLINGS]
    assert in_sql == in_arrow == in_python == folded


def test_spellings_python_lowers_apart_from_duckdb_compare_equal():
    rule = IdentifierRule("email", True, None)
    assert rule.python("XΣ@x.io") == rule.python("xς@x.io") == rule.python("xσ@x.io")
    assert rule.python("İx@x.io") == rule.python("ix@x.io")
