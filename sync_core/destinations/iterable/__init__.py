"""Iterable: what the type declares (catalog.py lists it); users.py is its user object, events.py its custom
events, records.py what the two share, client.py its HTTP."""

from ..types import DestinationType, ObjectType

MAX_USERS_PER_REQUEST = 1000  # POST /api/users/bulkUpdate
MAX_EVENTS_PER_REQUEST = 1000  # POST /api/events/trackBulk (Iterable publishes no count: 4 MB, ~1000 in practice)

ITERABLE = DestinationType(
    name="iterable",
    default_base_url="https://api.iterable.com",
    max_batch_size=MAX_USERS_PER_REQUEST,
    objects={"user": ObjectType(modes=("upsert", "update"), match_fields=("email", "userId"),
                                implementation="sync_core.destinations.iterable.users:IterableUsers"),
             "event": ObjectType(modes=("upsert", "update"), match_fields=("email", "userId"),
                                 implementation="sync_core.destinations.iterable.events:IterableEvents",
                                 events=True)},
    # How long one export of who exists serves the credential's other update-only syncs (lookup.py): long enough
    # for syncs scheduled together to share it, short enough that a user the product creates meanwhile waits
    # at most this long, once, to be written (not-found rows are checked again every run).
    settings={"lookup_max_age_seconds": 600},
    health_check="sync_core.doctor.iterable:check_iterable",
)
