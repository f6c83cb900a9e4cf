"""Iterable: what the type declares (catalog.py lists it); users.py is its user object, events.py its custom
events, lists.py its lists (segments), records.py what they share, client.py its HTTP."""

from ..types import DestinationType, ObjectType, SyncKey

MAX_USERS_PER_REQUEST = 1000  # POST /api/users/bulkUpdate
MAX_EVENTS_PER_REQUEST = 1000  # POST /api/events/trackBulk (Iterable publishes no count: 4 MB, ~1000 in practice)
MAX_SUBSCRIBERS_PER_REQUEST = 1000  # POST /api/lists/subscribe, unsubscribe (no published count: 4 MB; ours)

# An event sync names its events (event_settings.py reads these keys into SyncConfig.event)
EVENT_KEYS = (SyncKey("event_name", "the name the events are tracked under", '"Signed Up"', one_of="name"),
              SyncKey("event_name_column", "the name of the model's column holding each row's event name",
                      '"event_type"', one_of="name"),
              SyncKey("created_at", "the name of the model's column holding when each event happened (without it, "
                                    "each event is dated at the run's time)", '"signed_up_at"'))
# A list sync names its static list: by id, or by name (resolved through GET /api/lists when a run starts; a
# name may be a number written unquoted, as config.py has always taken it)
LIST_KEYS = (SyncKey("list_id", "the list's id", "123", one_of="list", whole_number=True),
             SyncKey("list_name", "the list's name", '"Customers"', one_of="list", whole_number=True))

ITERABLE = DestinationType(
    name="iterable",
    default_base_url="https://api.iterable.com",
    max_batch_size=MAX_USERS_PER_REQUEST,
    objects={"user": ObjectType(modes=("upsert", "update"), match_fields=("email", "userId"),
                                implementation="sync_core.destinations.iterable.users:IterableUsers"),
             "event": ObjectType(modes=("upsert", "update"), match_fields=("email", "userId"),
                                 implementation="sync_core.destinations.iterable.events:IterableEvents",
                                 events=True, sync_keys=EVENT_KEYS),
             "list": ObjectType(modes=("update", "upsert"), match_fields=("email", "userId"),
                                implementation="sync_core.destinations.iterable.lists:IterableLists",
                                sync_keys=LIST_KEYS, mappings_required=False)},
    # How long one export of who exists serves the credential's other update-only syncs (lookup.py): long enough
    # for syncs scheduled together to share it, short enough that a user the product creates meanwhile waits
    # at most this long, once, to be written (not-found rows are checked again every run).
    settings={"lookup_max_age_seconds": 600},
    health_check="sync_core.doctor.iterable:check_iterable",
)
