"""Iterable: what the type declares (catalog.py lists it); users.py is its user object, events.py its custom
events, lists.py its lists (segments), records.py what they share, client.py its HTTP."""

from ..types import DestinationType, ObjectType

MAX_USERS_PER_REQUEST = 1000  # POST /api/users/bulkUpdate
MAX_EVENTS_PER_REQUEST = 1000  # POST /api/events/trackBulk (Iterable publishes no count: 4 MB, ~1000 in practice)
MAX_SUBSCRIBERS_PER_REQUEST = 1000  # POST /api/lists/subscribe, unsubscribe (no published count: 4 MB; ours)

ITERABLE = DestinationType(
    name="iterable",
    default_base_url="https://api.iterable.com",
    max_batch_size=MAX_USERS_PER_REQUEST,
    objects={"user": ObjectType(modes=("upsert", "update"), match_fields=("email", "userId"),
                                implementation="sync_core.destinations.iterable.users:IterableUsers"),
             "event": ObjectType(modes=("upsert", "update"), match_fields=("email", "userId"),
                                 implementation="sync_core.destinations.iterable.events:IterableEvents",
                                 events=True),
             # Members of a static list: list_id, or list_name resolved through GET /api/lists
             "list": ObjectType(modes=("update", "upsert"), match_fields=("email", "userId"),
                                implementation="sync_core.destinations.iterable.lists:IterableLists",
                                choice_keys=("list_id", "list_name"), mappings_required=False)},
    # How long one export of who exists serves the credential's other update-only syncs (lookup.py): long enough
    # for syncs scheduled together to share it, short enough that a user the product creates meanwhile waits
    # at most this long, once, to be written (not-found rows are checked again every run).
    settings={"lookup_max_age_seconds": 600},
    health_check="sync_core.doctor.iterable:check_iterable",
)
