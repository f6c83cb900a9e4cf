"""Reading a Marketo sandbox's activities back over HTTP, as a reconciliation would: a token, a paging token from
the epoch, then pages (some empty) while moreResult is true.

In its own module (not conftest.py) so that tests import it by a name no other conftest.py shadows."""

from __future__ import annotations

import requests


def read_activities(url: str, client_id: str, client_secret: str, activity_type_id: int) -> list[dict]:
    with requests.Session() as http:
        token = http.get(f"{url}/identity/oauth/token", params={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
        }).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        page = http.get(f"{url}/rest/v1/activities/pagingtoken.json",
                        params={"sinceDatetime": "1970-01-01T00:00:00Z"}).json()
        found, more = [], True
        while more:
            page = http.get(f"{url}/rest/v1/activities.json", params={
                "nextPageToken": page["nextPageToken"], "activityTypeIds": str(activity_type_id)}).json()
            found += page.get("result", [])
            more = page["moreResult"]
    return found
