"""The peer benchmark's dlt side, run with dlt's own virtual environment (peer_benchmark.py installs it):

    python bench/peer_dlt_pipeline.py --database model.duckdb --url http://127.0.0.1:PORT --pipelines-dir DIR

A dlt resource reads the model from the DuckDB file in chunks of dicts; a custom destination
(`@dlt.destination(batch_size=1000)`) posts each batch of 1,000 users to Iterable's bulkUpdate, shaped as
Iterable wants them, and fails the load on any answer but a 2xx with a successCount for every user.
The pipeline keeps its state in --pipelines-dir, so a fresh folder makes a first full sync.
"""

from __future__ import annotations

import argparse
import json
import sys

import dlt
import duckdb
import requests

from peer_model import FIELDS, MATCH_COLUMN, QUERY

CHUNK = 10_000  # rows per fetch, as drt's DuckDB source reads them


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True)
    parser.add_argument("--url", required=True, help="the receiver's base URL")
    parser.add_argument("--pipelines-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    @dlt.resource(name="contacts", write_disposition="append")
    def contacts():
        with duckdb.connect(args.database, read_only=True) as con:
            cursor = con.execute(QUERY)
            columns = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(CHUNK):
                yield [dict(zip(columns, row)) for row in rows]

    session = requests.Session()
    endpoint = args.url.rstrip("/") + "/api/users/bulkUpdate"

    @dlt.destination(batch_size=args.batch_size, name="iterable_users")
    def iterable_users(items, table) -> None:
        users = [{"email": item[MATCH_COLUMN],
                  "dataFields": {field: item.get(column) for column, field in FIELDS.items()}} for item in items]
        answer = session.post(endpoint, data=json.dumps({"users": users}, default=str),
                              headers={"Content-Type": "application/json", "Api-Key": "peer-benchmark"}, timeout=60)
        answer.raise_for_status()
        if answer.json().get("successCount") != len(users):
            raise RuntimeError(f"bulkUpdate stored {answer.json().get('successCount')} of {len(users)} users")

    pipeline = dlt.pipeline(pipeline_name="peer_benchmark", destination=iterable_users,
                            pipelines_dir=args.pipelines_dir, dataset_name="peer_benchmark")
    info = pipeline.run(contacts())
    info.raise_on_failed_jobs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
