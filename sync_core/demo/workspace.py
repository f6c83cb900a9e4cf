"""The demo workspace: the seed's setup, offline. A DuckDB warehouse of marketing contacts and their
namespaces, the seed's four syncs and a segment synced to an Iterable list, an Iterable sandbox holding only the
users the product created (and the list), and a Marketo sandbox holding the product's leads and the custom
activity type the Marketo sync adds.

The Snowflake demo (`source="snowflake"`) reads the same warehouse through Snowpark from a local Snowflake
emulator (snowflake_emulator.py), which loads the DuckDB file at start and again after each `advance_demo`: the
file stays where the generator writes, and the emulator serves a copy of it."""

from __future__ import annotations

import importlib
import secrets
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from ..config import SEED_MQR_LIMIT, WORKSPACE_FILE, Workspace, load_workspace
from ..errors import SyncCoreError
from ..sandbox import IterableState, MarketoState
from ..secrets import SECRETS_FILE
from ..snowflake_settings import DEFAULT_EMULATOR_PORT, HEALTH_PATH, RELOAD_PATH, EmulatorSettings
from ..state import StateStore
from . import DEFAULT_CONTACTS
from .dbt_project import FOLDER as DBT_FOLDER, MODEL as DBT_MODEL, write_dbt_project
from .warehouse import AdvanceSummary, advance_warehouse, create_warehouse, initial_product_users

SANDBOX_PROJECT = "demo"
MARKETO_INSTANCE = "123-DEM-456"  # the sandbox's Munchkin id
MARKETO_ACTIVITY_TYPE = "firstNamespaceCreated_c"
MARKETO_ATTRIBUTES = ("namespaceId", "plan", "region")
SEGMENT_LIST = "Customers with a namespace"  # the static list the segment sync keeps, made in the sandbox at init

WORKSPACE_TOML = '''\
# Demo workspace written by `sync-core demo init`: the seed's setup on {warehouse} and a
# local Iterable sandbox. Models are Snowflake SQL{translation}.
# Secrets are references: {secrets} in .streamlit/secrets.toml next to this file.

[workspace]
name = "Demo: marketing contacts"{dbt_project}

[mqr]
limit = {mqr_limit}{mqr_comment}
billing_period_start_day = {start_day}{start_day_comment}
policy = "block"                # a run that would pass the limit less the reserve is stopped before it counts
reserve = 0.05                  # 5% kept for other uses of the plan

{source}
[destinations.iterable]
type = "iterable"
base_url = "http://127.0.0.1:{port}"     # the sandbox; https://api.iterable.com for the real thing
api_key = "secrets:sandbox.iterable_api_key"

[sandbox]
state = "sandbox/iterable.sqlite"
port = {port}
project = "{project}"
api_key = "secrets:sandbox.iterable_api_key"

# Every contact still in the CRM, with how many namespaces they belong to.
[models.contacts]
source = "warehouse"
primary_key = "email"
entity = "person"                       # MQR: a person counts once, whichever sync queries them
sql = """
SELECT c.email, c.user_id, c.first_name, c.last_name, c.company, c.job_title, c.country,
       c.lifecycle_stage, c.lead_score, c.annual_revenue, c.email_opt_in, c.created_at,
       IFF(c.lifecycle_stage = 'customer', TRUE, FALSE) AS is_customer,
       COUNT(DISTINCT m.namespace_id) AS namespace_count
FROM marketing_contacts c
LEFT JOIN namespace_members m ON m.user_id = c.user_id
WHERE c.deleted_at IS NULL
GROUP BY ALL
"""

{first_namespace}
'''


@dataclass(frozen=True)
class DemoSync:
    """One of the demo's syncs, as its workspace.toml declares it (`sync_toml` writes it). Each runs daily and
    creates nobody, so each expects NotFound rejections, for the reason it gives."""
    id: str
    name: str
    model: str
    destination: str
    object: str
    match: tuple[str, str]  # (field, column)
    not_found: str  # why NotFound is expected: the reason of the sync's expected-error rule
    mode: str = "update"
    options: tuple[tuple[str, str], ...] = ()  # the object's own keys, (key, value): event_name, list_name...
    mappings: tuple[tuple[str, ...], ...] = ()  # (column, field), or (column, field, null)
    about: tuple[str, ...] = ()  # comment lines written above the sync
    notes: tuple[tuple[str, str], ...] = ()  # (key, comment) written at the end of the key's line


# The seed's Iterable syncs, in the order workspace.toml lists them.
ITERABLE_SYNCS = (
    DemoSync(
        "iterable-production", name="Iterable-Production", model="contacts", destination="iterable", object="user",
        match=("email", "email"),
        not_found="Update-only: people who have not signed up have no Iterable user yet; the product creates them.",
        notes=(("mode", "contacts are created in Iterable by the product, never by this sync"),),
        mappings=(("first_name", "firstName"), ("last_name", "lastName"), ("company", "company"),
                  ("job_title", "jobTitle"), ("country", "country"), ("lifecycle_stage", "lifecycleStage"),
                  ("lead_score", "leadScore"), ("annual_revenue", "annualRevenue", "clear"),
                  ("email_opt_in", "emailOptIn"), ("is_customer", "isCustomer"),
                  ("namespace_count", "namespaceCount"), ("created_at", "signupDate"))),
    DemoSync(
        "iterable-first-namespace", name="Iterable - First Namespace Details Sync", model="first_namespace",
        destination="iterable", object="user", match=("userId", "user_id"),
        not_found="Update-only: the product creates Iterable users; this sync only adds namespace details.",
        mappings=(("first_namespace_id", "firstNamespaceId"), ("first_namespace_name", "firstNamespaceName"),
                  ("first_namespace_plan", "firstNamespacePlan"), ("first_namespace_region", "firstNamespaceRegion"),
                  ("first_namespace_created_at", "firstNamespaceCreatedAt"),
                  ("days_to_first_namespace", "daysToFirstNamespace"))),
    DemoSync(
        "iterable-first-namespace-events", name="Iterable - First Namespace Details Sync", model="first_namespace",
        destination="iterable", object="event", match=("userId", "user_id"),
        not_found="Update-only: events are tracked only for people the product already created in Iterable.",
        about=("The seed's third sync: the same rows as Iterable custom events, one per person, for people who already",
               "exist in Iterable (update-only, as the seed marks it). Each event's id comes from this sync's id and "
               "the row's",
               'key, so a resend updates the event it sent before (README: "Iterable custom events").'),
        notes=(("name", "the same display name as the user sync, as in the seed"),),
        options=(("event_name", "First Namespace Created"), ("created_at", "first_namespace_created_at")),
        mappings=(("first_namespace_id", "namespaceId"), ("first_namespace_name", "namespaceName"),
                  ("first_namespace_plan", "plan"), ("first_namespace_region", "region"),
                  ("days_to_first_namespace", "daysToFirstNamespace"))),
)

# The segment as a static Iterable list (a demo written with segment=False leaves it and its model out).
SEGMENT_SYNC = DemoSync(
    "iterable-customers-list", name="Iterable - Customers with a namespace (list)", model="customers_with_namespace",
    destination="iterable", object="list", match=("email", "email"),
    not_found="Update-only: only people the product already created in Iterable join the list.",
    about=("The segment as the members of a static Iterable list: who enters it is subscribed, who leaves it "
           "(churned,",
           'deleted) is unsubscribed (README: "Iterable lists"). The list is named here and found through GET '
           "/api/lists."),
    options=(("list_name", SEGMENT_LIST),))

# The seed's Marketo sync (a demo written with marketo=False leaves it, its destination and its sandbox out).
MARKETO_SYNC = DemoSync(
    "marketo-activities", name="Marketo Activities", model="first_namespace", destination="marketo",
    object="activity", match=("email", "email"), mode="insert",
    not_found="The product creates Marketo leads; this sync only adds activities to people who have one.",
    notes=(("mode", "one activity per person's first namespace; a changed row adds another"),),
    options=(("activity_type", MARKETO_ACTIVITY_TYPE),),
    mappings=(("first_namespace_created_at", "activityDate"), ("first_namespace_name", "primaryAttributeValue"),
              ("first_namespace_id", "namespaceId"), ("first_namespace_plan", "plan"),
              ("first_namespace_region", "region")))

NOTE_COLUMN = 32  # where a key's comment starts (two spaces after a longer line), as in the rest of the file


def sync_toml(sync: DemoSync) -> str:
    """The sync's section and its expected-error rule, as workspace.toml text (keys in the order users read them)."""
    notes = dict(sync.notes)
    keys = [("name", sync.name), ("model", sync.model), ("destination", sync.destination), ("object", sync.object),
            *sync.options, ("mode", sync.mode)]
    lines = [f"# {line}" for line in sync.about] + [f"[syncs.{sync.id}]"]
    for key, value in keys:
        line = f'{key} = "{value}"'
        lines.append(f"{line:<{NOTE_COLUMN - 2}}  # {notes[key]}" if key in notes else line)
    lines += ['match = {{ field = "{}", column = "{}" }}'.format(*sync.match), 'schedule = "every 24h"']
    if sync.mappings:
        lines += ["mappings = ["] + [_mapping(*m) for m in sync.mappings] + ["]"]
    lines += ["", f"[[syncs.{sync.id}.expected_errors]]", 'code = "NotFound"', f'reason = "{sync.not_found}"']
    return "\n".join(lines) + "\n"


def _mapping(column: str, field: str, null: str | None = None) -> str:
    return f'  {{ column = "{column}", field = "{field}"' + (f', null = "{null}"' if null else "") + " },"


# The model of SEGMENT_SYNC.
SEGMENT_MODEL_TOML = '''
# A segment: customers who belong to at least one namespace.
[models.customers_with_namespace]
source = "warehouse"
primary_key = "email"
entity = "person"
sql = """
SELECT c.email
FROM marketing_contacts c
WHERE c.deleted_at IS NULL AND c.lifecycle_stage = 'customer'
  AND EXISTS (SELECT 1 FROM namespace_members m WHERE m.user_id = c.user_id)
"""
'''

# The Marketo destination and its sandbox, for MARKETO_SYNC.
MARKETO_TOML = '''
[destinations.marketo]
type = "marketo"
base_url = "http://127.0.0.1:{marketo_port}"     # the sandbox; munchkin_id = "123-ABC-456" for the real thing
client_id = "secrets:sandbox.marketo_client_id"
client_secret = "secrets:sandbox.marketo_client_secret"

[sandboxes.marketo]
vendor = "marketo"
state = "sandbox/marketo.sqlite"
port = {marketo_port}
project = "{marketo_instance}"                  # the instance's Munchkin id
api_key = "secrets:sandbox.marketo_credentials"  # the instance's CLIENT_ID:CLIENT_SECRET
'''


# The first namespace each person created, written by hand (the Snowflake demo's).
FIRST_NAMESPACE_SQL = '''\
# The first namespace each person created.
[models.first_namespace]
source = "warehouse"
primary_key = "email"
entity = "person"
sql = """
SELECT c.email, c.user_id, n.namespace_id AS first_namespace_id, n.name AS first_namespace_name,
       n.plan AS first_namespace_plan, n.region AS first_namespace_region,
       n.created_at AS first_namespace_created_at,
       DATEDIFF('day', c.created_at, n.created_at) AS days_to_first_namespace
FROM marketing_contacts c
JOIN namespaces n ON n.created_by_user_id = c.user_id
WHERE c.deleted_at IS NULL
QUALIFY ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1
"""
'''

# The same rows from the demo's dbt project (dbt_project.py), as the seed's syncs read its dbt model.
FIRST_NAMESPACE_DBT = f'''\
# The first namespace each person created: the seed's dbt model, which `dbt run` materialised in the warehouse
# ({DBT_FOLDER}/models/{DBT_MODEL}.sql), found through {DBT_FOLDER}/target/manifest.json. Its
# description, owner and dbt tests show beside the syncs (`sync-core syncs`, the Syncs page).
[models.first_namespace]
source = "warehouse"
primary_key = "email"
entity = "person"
dbt = "{DBT_MODEL}"
'''

DUCKDB_SOURCE = '''\
[sources.warehouse]
type = "duckdb"
path = "warehouse.duckdb"
'''

# The emulator checks the password (a wrong one gets Snowflake's 390100), so the secret reference is exercised as
# a real account's would be; the value is random per workspace and kept out of workspace.toml, like the API key.
SNOWFLAKE_SOURCE = '''\
# The demo's Snowflake: a local emulator serving the demo warehouse over Snowflake's HTTP protocol
# (`sync-core demo emulator`, which `sync-core up` starts). Runs reach it through Snowpark, as they would a real
# account; host, port and protocol are what point them here (a real account needs none of the three).
[sources.warehouse]
type = "snowflake"
account = "demo"
user = "SYNC_CORE"
password = "secrets:snowflake.password"
host = "127.0.0.1"
port = {emulator_port}
protocol = "http"
database = "DEMO"
schema = "MARKETING"
statement_timeout_seconds = 600

[snowflake_emulator]
source = "warehouse"
load = "warehouse.duckdb"               # the demo warehouse it serves: loaded at start and after `demo advance`
'''

SOURCES = ("duckdb", "snowflake")


class EmulatorError(SyncCoreError):
    """The Snowflake demo's emulator answered, but could not load the warehouse."""
    error_class = "config"


@dataclass(frozen=True)
class DemoInitSummary:
    root: Path
    contacts: int
    iterable_users: int


def history_period_start_day(days: int, now: float | None = None) -> int:
    """The day of the month (UTC, as billing periods are counted: mqr.py) on which a history of `days` simulated
    days ending today begins. A demo whose billing period starts then has its whole history in the current
    period, whatever today's date, so its MQR page has the days a forecast needs (on the 2nd of a month, a
    period starting on the 1st would hold only two of three days)."""
    first = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc) - timedelta(days=days - 1)
    return first.day


def init_demo(root: str | Path, *, contacts: int = DEFAULT_CONTACTS, seed: int = 7, sandbox_port: int = 8765,
              product_share: float = 0.6, mqr_limit: int = SEED_MQR_LIMIT, source: str = "duckdb",
              emulator_port: int = DEFAULT_EMULATOR_PORT, marketo_port: int | None = None,
              marketo: bool = True, segment: bool = True, billing_period_start_day: int | None = None
              ) -> DemoInitSummary:
    """Write a demo workspace in `root` (which must not hold a workspace yet). `mqr_limit` other than the
    seed's 1.5M is written with a comment saying the limit is scaled to the demo's size. `source="snowflake"`
    reads the warehouse through a local Snowflake emulator on `emulator_port`. The Marketo sandbox listens on
    `marketo_port` (default: the Iterable sandbox's port + 1); `marketo=False` writes the demo without the
    Marketo sync and sandbox; `segment=False` without the segment (Iterable list) sync and its list.
    `billing_period_start_day`: the day its history begins (history_period_start_day), written with a comment
    saying so; else 1."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if source == "snowflake":
        require_emulator()  # before anything is written
    root = Path(root).expanduser().resolve()
    if (root / WORKSPACE_FILE).exists():
        raise FileExistsError(f"{root / WORKSPACE_FILE} already exists: choose another folder, or delete it first")
    root.mkdir(parents=True, exist_ok=True)
    # The sandboxes' credentials and the emulator's password: secrets like any other, kept out of workspace.toml.
    client_id, client_secret = secrets.token_hex(8), secrets.token_hex(16)  # the Marketo sandbox's
    secret_lines = (f'[sandbox]\niterable_api_key = "{secrets.token_hex(16)}"\nmarketo_client_id = "{client_id}"\n'
                    f'marketo_client_secret = "{client_secret}"\nmarketo_credentials = "{client_id}:{client_secret}"\n')
    if source == "snowflake":
        secret_lines += f'\n[snowflake]\npassword = "{secrets.token_hex(16)}"\n'
    secrets_file = root / SECRETS_FILE
    secrets_file.parent.mkdir(exist_ok=True)
    secrets_file.write_text(secret_lines)
    secrets_file.chmod(0o600)
    (root / ".gitignore").write_text(".streamlit/secrets.toml\n.sync-state/\nsandbox/\n*.duckdb\n*.duckdb.wal\n")

    create_warehouse(root / "warehouse.duckdb", contacts=contacts, seed=seed, product_share=product_share)
    on_snowflake = source == "snowflake"
    if not on_snowflake:  # the emulator copies tables, not views: the Snowflake demo keeps the model's SQL
        write_dbt_project(root, root / "warehouse.duckdb")
    comment = ("                # Monthly Queried Records in the plan" if mqr_limit == SEED_MQR_LIMIT else
               f"                 # demo scale (the seed's plan: {SEED_MQR_LIMIT})")
    text = WORKSPACE_TOML.format(
        dbt_project="" if on_snowflake else f'\ndbt_project = "{DBT_FOLDER}"            # the dbt project models may name',
        first_namespace=FIRST_NAMESPACE_SQL if on_snowflake else FIRST_NAMESPACE_DBT,
        port=sandbox_port, project=SANDBOX_PROJECT, mqr_limit=mqr_limit, mqr_comment=comment,
        start_day=billing_period_start_day or 1, start_day_comment="" if billing_period_start_day is None else
        " " * (3 - len(str(billing_period_start_day))) + "# the history's first day: the forecast has all its days",
        source=SNOWFLAKE_SOURCE.format(emulator_port=emulator_port) if on_snowflake else DUCKDB_SOURCE,
        warehouse="a local Snowflake emulator" if on_snowflake else "an embedded DuckDB warehouse",
        translation="" if on_snowflake else "; the DuckDB source translates them",
        secrets=("the sandbox's API key and the emulator's password live\n#" if on_snowflake else
                 "the sandbox's API key lives"))
    text += "".join("\n" + sync_toml(sync) for sync in ITERABLE_SYNCS)
    if segment:
        text += SEGMENT_MODEL_TOML + "\n" + sync_toml(SEGMENT_SYNC)
    if marketo:
        text += MARKETO_TOML.format(marketo_port=marketo_port or sandbox_port + 1, marketo_instance=MARKETO_INSTANCE)
        text += "\n" + sync_toml(MARKETO_SYNC)
    (root / WORKSPACE_FILE).write_text(text)
    workspace = load_workspace(root)
    state = _sandbox_state(workspace)
    users = initial_product_users(root / "warehouse.duckdb")
    state.upsert_users(SANDBOX_PROJECT, users, created_by="product")
    if segment:
        state.add_list(SANDBOX_PROJECT, SEGMENT_LIST, description="Customers who belong to at least one namespace")
    if marketo:
        with closing(_marketo_state(workspace)) as state:
            state.add_activity_type(MARKETO_INSTANCE, MARKETO_ACTIVITY_TYPE, name="First namespace created",
                                    primary_attribute="namespaceName", attributes=list(MARKETO_ATTRIBUTES))
            state.add_leads(MARKETO_INSTANCE, [user["email"] for user in users if user["email"]])
    return DemoInitSummary(root, contacts, len(users))


def advance_demo(workspace: Workspace) -> AdvanceSummary:
    """One simulated day: the warehouse changes, and the product creates some Iterable users and Marketo leads. A
    Snowflake demo's emulator, if it runs, loads the changed warehouse (one that does not run loads it when it
    starts)."""
    summary = advance_warehouse(workspace.root / "warehouse.duckdb")
    _sandbox_state(workspace).upsert_users(SANDBOX_PROJECT, summary.product_created_users, created_by="product")
    # A day passed in the sandbox, not on the clock: an export made seconds ago predates the product's new users,
    # so the next run of each sync looks up who exists again rather than reuse it (lookup.py).
    max_age = max((d.settings.get("lookup_max_age_seconds", 0) for d in workspace.destinations.values()), default=0)
    with StateStore(workspace.state_path) as store:
        store.backdate_lookups(max_age + 1)
    if "marketo" in workspace.sandboxes:
        with closing(_marketo_state(workspace)) as marketo:
            marketo.add_leads(MARKETO_INSTANCE, [user["email"] for user in summary.product_created_users if user["email"]])
    if workspace.snowflake_emulator is not None:
        reload_emulator(workspace.snowflake_emulator)
    return summary


def require_emulator() -> None:
    """Raises EmulatorMissing, which says how to install it, when the Snowflake demo's emulator is not installed
    (an optional extra: the DuckDB demo never imports it)."""
    importlib.import_module(f"{__package__}.snowflake_emulator")


def emulator_answers(emulator: EmulatorSettings) -> bool:
    try:
        return requests.get(emulator.url(HEALTH_PATH), timeout=2).ok
    except requests.RequestException:
        return False


def reload_emulator(emulator: EmulatorSettings) -> bool:
    """Have a running emulator load its warehouse again; False when none answers on its port."""
    try:
        answer = requests.post(emulator.url(RELOAD_PATH), timeout=120)
    except requests.ConnectionError:
        return False
    if not answer.ok:
        raise EmulatorError(f"the Snowflake emulator on port {emulator.port} could not load {emulator.load}: "
                            f"{answer.json().get('error', answer.text)}; stop it and start it again "
                            f"(`sync-core demo emulator`, or `sync-core up`)")
    return True


def _sandbox_state(workspace: Workspace) -> IterableState:
    if workspace.sandbox is None:
        raise ValueError(f"{workspace.file} has no [sandbox] section: it is not a demo workspace")
    workspace.sandbox.state.parent.mkdir(parents=True, exist_ok=True)
    state = IterableState(workspace.sandbox.state)
    state.add_project(workspace.sandbox.project, workspace.sandbox.api_key.resolve(workspace.root))
    return state


def _marketo_state(workspace: Workspace) -> MarketoState:
    """The demo's Marketo sandbox file, with its instance and credentials (the same the sandbox command sets)."""
    sandbox = workspace.sandboxes["marketo"]
    sandbox.state.parent.mkdir(parents=True, exist_ok=True)
    state = MarketoState(sandbox.state)
    state.add_project(sandbox.project, sandbox.api_key.resolve(workspace.root))
    return state
