"""The peer benchmark's model: one DuckDB table of contacts, the query every tool runs on it, and the Iterable
fields its columns map to. Standard library only at import time: the dlt pipeline imports it from dlt's own
virtual environment."""

from __future__ import annotations

TABLE = "contacts"
MATCH_COLUMN = "email"
# model column -> Iterable dataField, as the demo's Iterable-Production sync maps them
FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "company": "company",
    "job_title": "jobTitle",
    "country": "country",
    "lifecycle_stage": "lifecycleStage",
    "lead_score": "leadScore",
    "annual_revenue": "annualRevenue",
    "email_opt_in": "emailOptIn",
    "namespace_count": "namespaceCount",
    "created_at": "signupDate",
}
QUERY = f"SELECT {', '.join([MATCH_COLUMN, *FIELDS])} FROM {TABLE}"

# Deterministic rows shaped like the demo's contacts: strings, integers, a nullable double, a boolean, a timestamp.
CREATE = f"""
CREATE OR REPLACE TABLE {TABLE} AS
SELECT 'contact' || i || '@example.com' AS email,
       (['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'])[1 + i % 8] AS first_name,
       (['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen'])[1 + i % 7] AS last_name,
       'Company ' || (i % 5003) AS company,
       (['Engineer', 'Analyst', 'Manager', 'Director', NULL])[1 + i % 5] AS job_title,
       (['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA', 'AU'])[1 + i % 9] AS country,
       (['lead', 'trial', 'customer', 'churned'])[1 + i % 4] AS lifecycle_stage,
       (i * 37) % 101 AS lead_score,
       CASE WHEN i % 10 = 0 THEN NULL ELSE round(((i * 7919) % 1000000) / 3.0, 2) END AS annual_revenue,
       i % 3 = 0 AS email_opt_in,
       (i * 13) % 17 AS namespace_count,
       TIMESTAMP '2023-01-01 00:00:00' + to_seconds((i * 61) % 94608000) AS created_at
FROM range(?) AS t(i)
"""


def create_model(path: str, rows: int) -> None:
    """Write `rows` contacts to the DuckDB file at `path`."""
    import duckdb

    with duckdb.connect(path) as con:
        con.execute(CREATE, [rows])
