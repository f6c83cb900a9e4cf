"""Snowflake's result types, normalised at the boundary, so a row reaches the planner with the types the DuckDB
source would give the same data, and hashes (hashing.py) and sends alike.

The target schema comes from the query's description (Snowpark's StructType), never from the first Arrow
batch: the connector picks each chunk's Arrow type from that chunk's values (int8 for small numbers, int64 or
decimal128 for larger ones), so batches of one result can disagree.
  NUMBER(p, 0) / INTEGER      -> DECIMAL(38, 0) (any integer fits; it hashes and sends as DuckDB's BIGINT)
  NUMBER(p, s)                -> DECIMAL(p, s)
  FLOAT                       -> DOUBLE
  TIMESTAMP_NTZ               -> TIMESTAMP (microseconds, as DuckDB's)
  TIMESTAMP_LTZ, TIMESTAMP_TZ -> TIMESTAMP WITH TIME ZONE, in UTC
  VARIANT, OBJECT, ARRAY, GEOGRAPHY, GEOMETRY -> JSON (the connector hands them over as indented JSON text;
                                 DuckDB's json() writes it compact, as to_json writes DuckDB's own)
  BOOLEAN, DATE, TIME, BINARY, TEXT -> their DuckDB kin
Any other type (VECTOR, FILE, an interval, DECFLOAT, one Snowflake adds later) is refused with UnreadableType,
which the source turns into a model error naming the column and the cast to write: read as text, it would hash
and send as whatever text the connector happens to produce, and change when the connector does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from snowflake.snowpark import types as T

from ..hashing import quote

_JSON_TYPES = (T.VariantType, T.ArrayType, T.MapType, T.StructType, T.GeographyType, T.GeometryType)
_TEXT_TYPES = (T.StringType, T.NullType)  # NullType: a column of NULL literals


class UnreadableType(ValueError):
    """A column of a type the boundary does not normalise."""

    def __init__(self, column: str, datatype: T.DataType):
        self.column, self.datatype = column, datatype
        super().__init__(f"column '{column}' is of Snowflake type {datatype.simple_string().upper()}, which "
                         f"sync-core does not read: cast it in the model's SQL, e.g. TO_VARCHAR({column}) or "
                         f"TO_JSON({column}) AS {column}")


@dataclass(frozen=True)
class ResultShape:
    """What the model returns, normalised: `schema` (lower-case names) and which of its columns are JSON."""
    schema: pa.Schema
    json_columns: frozenset[str]

    def select_sql(self, relation: str) -> str:
        """A DuckDB SELECT over the conformed batches, the JSON columns made JSON."""
        columns = ", ".join(f"json({quote(f.name)}) AS {quote(f.name)}" if f.name in self.json_columns
                            else quote(f.name) for f in self.schema)
        return f"SELECT {columns} FROM {relation}"


def shape(struct: T.StructType) -> ResultShape:
    fields, json_columns = [], set()
    for field in struct.fields:
        name = _unquoted(field.name).lower()
        if isinstance(field.datatype, _JSON_TYPES):
            json_columns.add(name)
        fields.append(pa.field(name, arrow_type(field.datatype, name)))
    return ResultShape(pa.schema(fields), frozenset(json_columns))


def arrow_type(datatype: T.DataType, column: str) -> pa.DataType:
    if isinstance(datatype, (T.LongType, T.IntegerType, T.ShortType, T.ByteType)):
        return pa.decimal128(38, 0)
    if isinstance(datatype, T.DecimalType):
        return pa.decimal128(38, 0) if datatype.scale == 0 else pa.decimal128(datatype.precision, datatype.scale)
    if isinstance(datatype, (T.FloatType, T.DoubleType)):
        return pa.float64()
    if isinstance(datatype, T.BooleanType):
        return pa.bool_()
    if isinstance(datatype, T.DateType):
        return pa.date32()
    if isinstance(datatype, T.TimeType):
        return pa.time64("us")
    if isinstance(datatype, T.TimestampType):
        aware = datatype.tz in (T.TimestampTimeZone.LTZ, T.TimestampTimeZone.TZ)
        return pa.timestamp("us", tz="UTC" if aware else None)
    if isinstance(datatype, T.BinaryType):
        return pa.binary()
    if isinstance(datatype, _TEXT_TYPES + _JSON_TYPES):
        return pa.string()  # the JSON kinds as their text (json() in select_sql)
    raise UnreadableType(column, datatype)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """One Arrow table of the result as `schema` says, by position (the connector keeps the warehouse's names)."""
    columns = []
    for column, field in zip(table.columns, schema):
        # Timestamps to microseconds: DuckDB's precision, and the hash's (%f); nanoseconds are dropped, not rounded.
        safe = not pa.types.is_timestamp(field.type)
        columns.append(column.cast(field.type, safe=safe))
    return pa.Table.from_arrays(columns, schema=schema)


def _unquoted(name: str) -> str:
    """Snowpark writes a case-sensitive name quoted ("email"); the planner compares names lower-cased."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name
