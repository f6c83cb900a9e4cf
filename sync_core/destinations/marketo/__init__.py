"""Marketo: what the type declares (catalog.py lists it); activities.py is its custom activity object, leads.py
its lead look-up, client.py its HTTP (OAuth token and Marketo's envelope)."""

from ..types import DestinationType, ObjectType, SyncKey

MAX_ACTIVITIES_PER_REQUEST = 300  # POST /rest/v1/activities/external.json
ACTIVITY_DATE = "activityDate"  # the mapped fields an activity needs; every other mapped field is an attribute
PRIMARY_ATTRIBUTE = "primaryAttributeValue"
# The custom activity type a sync adds: checked against the instance before a run sends (activities.py)
ACTIVITY_TYPE = SyncKey("activity_type", "the API name of a custom activity type (Admin > Marketo Custom Activities)",
                        '"namespaceCreated_c"', required=True)

MARKETO = DestinationType(
    name="marketo",
    default_base_url="https://{munchkin_id}.mktorest.com",
    max_batch_size=MAX_ACTIVITIES_PER_REQUEST,
    objects={"activity": ObjectType(modes=("insert",), match_fields=("email",),
                                    implementation="sync_core.destinations.marketo.activities:MarketoActivities",
                                    sync_keys=(ACTIVITY_TYPE,), required_fields=(ACTIVITY_DATE, PRIMARY_ATTRIBUTE))},
    default_rate_limit_reserve=0.2,  # other integrations of the instance share its limits and quota
    secrets=("client_id", "client_secret"),
    account_key="munchkin_id",
    account_pattern=r"^[0-9]{3}-[A-Z]{3}-[0-9]{3}$",  # as Admin > Munchkin shows it: 123-ABC-456
    # the instance's calls per Marketo day, and the share of them a run leaves to other integrations
    settings={"daily_quota": 50_000, "daily_quota_reserve": 0.2},
    health_check="sync_core.doctor.marketo:check_marketo",
)
