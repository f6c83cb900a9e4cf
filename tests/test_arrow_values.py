"""Arrow arrays built from Python values without pyarrow's pandas probe: the same arrays `pa.array` makes, and no
pandas loaded on the way."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from sync_core import arrow_values as av


@pytest.mark.parametrize("values", [[], ["a"], ["a", None, "", "é😀", None], [None, None], ["x" * 70_000, "y"]])
def test_strings_are_what_pa_array_makes(values):
    built = av.strings(values)
    assert built.equals(pa.array(values, pa.string())) and built.null_count == values.count(None)
    assert built.to_pylist() == values


@pytest.mark.parametrize("values", [[], [0], [1, None, -(2**63), 2**63 - 1, None], range(5, 12)])
def test_int64s_are_what_pa_array_makes(values):
    assert av.int64s(values).equals(pa.array(list(values), pa.int64()))


@pytest.mark.parametrize("values", [[], [True], [False] * 9 + [True], [True, None, False]])
def test_bools_are_what_pa_array_makes(values):
    assert av.bools(values).equals(pa.array(values, pa.bool_()))


def test_the_other_shapes():
    assert av.empty(pa.string()).equals(pa.array([], pa.string()))
    assert av.repeated("synced", 3).to_pylist() == ["synced"] * 3
    assert av.repeated(None, 2).equals(pa.array([None, None], pa.string()))
    assert av.combined(pa.chunked_array([], pa.int64())).equals(pa.array([], pa.int64()))
    assert av.combined(pa.chunked_array([av.int64s([1]), av.int64s([2, 3])])).to_pylist() == [1, 2, 3]
    assert av.array(["a", None], pa.string()).equals(pa.array(["a", None], pa.string()))
    assert av.array([1.5], pa.float64()).equals(pa.array([1.5], pa.float64()))  # a type no run builds
    assert av.scalar("synced").equals(pa.scalar("synced")) and av.scalar(7).equals(pa.scalar(7, pa.int64()))
    sliced = pa.array([5, 6, 2**64 - 1], pa.uint64()).slice(1)
    assert av.numbers(sliced).tolist() == [6, 2**64 - 1] and str(av.numbers(sliced).dtype) == "uint64"
    with pytest.raises(ValueError, match="without nulls"):
        av.numbers(pa.array([1, None], pa.int64()))


def test_building_arrays_loads_no_pandas():
    code = ("import sys, pyarrow as pa, pyarrow.compute as pc\n"
            "from sync_core import arrow_values as av\n"
            "keys = av.strings(['a', None]); av.int64s([1, None]); av.bools([True]); av.repeated('x', 2)\n"
            "av.combined(pa.chunked_array([], pa.string())); pc.equal(keys, av.scalar('a')); pc.less_equal(av.int64s([1]), av.scalar(2))\n"
            "av.numbers(av.int64s([1, 2]))\n"
            "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
