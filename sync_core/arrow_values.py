"""Arrow arrays made from Python values without pyarrow's pandas probe.

pyarrow imports pandas the first time it converts any Python value (`pa.array` of a list, `pa.scalar`, a compute
call given a Python scalar: apache/arrow#34994): about 0.3 s of CPU and 40 MB of memory in every run, for a
library no run uses. The arrays a run makes from Python values are built here from their buffers instead, which
converts nothing. Arrow-to-Arrow operations (compute on arrays, take, filter, IPC) never probe.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa

# pa.string() holds its offsets in int32 (the arrays made here are a batch's keys, far from it)
_INT32_MAX = 2**31 - 1


def empty(type_: pa.DataType) -> pa.Array:
    """An array of no values of `type_` (what `pa.array([], type_)` makes)."""
    return pa.nulls(0, type_)


def combined(column: pa.ChunkedArray) -> pa.Array:
    """A column's chunks as one array (`combine_chunks` makes a column of no chunks with `pa.array([])`)."""
    return column.combine_chunks() if column.num_chunks else empty(column.type)


def strings(values: Sequence[str | None]) -> pa.StringArray:
    """A string array of `values` (None: null), as `pa.array(values, pa.string())` makes it."""
    has_nulls = None in values
    texts = ["" if v is None else v for v in values] if has_nulls else values
    joined = "".join(texts)
    data = joined.encode()
    if len(data) > _INT32_MAX:
        raise ValueError(f"{len(data):,} bytes of text is more than one Arrow string array holds (2 GiB)")
    # ASCII text (keys, hashes: the usual case) has one byte a character, so its lengths need no encoding each
    lengths = map(len, texts) if len(data) == len(joined) else (len(t.encode()) for t in texts)
    offsets = np.fromiter(accumulate(lengths, initial=0), np.int32, len(texts) + 1)
    validity, nulls = _validity(v is not None for v in values) if has_nulls else (None, 0)
    return pa.Array.from_buffers(pa.string(), len(texts), [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=nulls)


def int64s(values: Sequence[int | None] | range) -> pa.Int64Array:
    """An int64 array of `values` (None: null), as `pa.array(values, pa.int64())` makes it."""
    if isinstance(values, range) or None not in values:
        data = np.fromiter(values, np.int64, len(values))
        return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])
    data = np.fromiter((0 if v is None else v for v in values), np.int64, len(values))
    validity, nulls = _validity(v is not None for v in values)
    return pa.Array.from_buffers(pa.int64(), len(data), [validity, pa.py_buffer(data)], null_count=nulls)


def bools(values: Sequence[bool | None]) -> pa.BooleanArray:
    """A boolean array of `values` (None: null), as `pa.array(values, pa.bool_())` makes it."""
    bits = np.packbits(np.fromiter((bool(v) for v in values), np.bool_, len(values)), bitorder="little")
    validity, nulls = _validity(v is not None for v in values) if None in values else (None, 0)
    return pa.Array.from_buffers(pa.bool_(), len(values), [validity, pa.py_buffer(bits)], null_count=nulls)


def scalar(value: str | int) -> pa.Scalar:
    """One text or integer as an Arrow scalar, for a compute call (given a Python value, `pyarrow.compute`
    converts it with `pa.scalar`, which probes)."""
    return (strings([value]) if isinstance(value, str) else int64s([value]))[0]


_BUILDERS = {pa.string(): strings, pa.int64(): int64s, pa.bool_(): bools}


def array(values: Sequence, type_: pa.DataType) -> pa.Array:
    """An array of `values` of `type_`: string, int64 and bool built from buffers; another type (no run makes
    one) through `pa.array`."""
    builder = _BUILDERS.get(type_)
    return builder(values) if builder is not None else pa.array(values, type_)


def repeated(value: str | None, n: int) -> pa.StringArray:
    """`n` times one string (or n nulls)."""
    if value is None:
        return pa.nulls(n, pa.string())
    data = value.encode()
    offsets = np.arange(n + 1, dtype=np.int64) * len(data)
    if offsets[-1] > _INT32_MAX:
        raise ValueError(f"{offsets[-1]:,} bytes of text is more than one Arrow string array holds (2 GiB)")
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)),
                                                  pa.py_buffer(data * n)])


def _validity(present: Iterable[bool]) -> tuple[pa.Buffer, int]:
    """Arrow's validity bitmap of the values present, and how many are not."""
    mask = np.fromiter(present, np.bool_)
    return pa.py_buffer(np.packbits(mask, bitorder="little")), int(len(mask) - np.count_nonzero(mask))


def numbers(values: pa.Array) -> np.ndarray:
    """A fixed-width array without nulls as a numpy view of its buffer (`to_numpy` probes for pandas too)."""
    if values.null_count:
        raise ValueError("numbers() takes an array without nulls")
    dtype = values.type.to_pandas_dtype()  # a numpy type: no probe
    return np.frombuffer(values.buffers()[1], dtype=dtype)[values.offset:values.offset + len(values)]
