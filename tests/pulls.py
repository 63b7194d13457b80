"""Pulling labels as a training pipeline does. On PostgreSQL a write transaction running
anywhere on the server (another test database's included: transaction ids are the cluster's)
holds newer judgments back from the pull for a while, never for good, so a test that expects
rows waits for them."""

import time


def pull_all(client, project, **params):
    """Every page from ``cursor`` (or the start) on: the rows and the cursor to go on from."""
    seen, cursor = [], None
    while True:
        query = {
            k: v
            for k, v in {**params, "cursor": cursor or params.get("cursor")}.items()
            if v is not None
        }
        body = client.get(f"/api/v1/projects/{project.pk}/judgments/", query).json()
        seen += body["results"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return seen, cursor


def pull_until(client, project, count, cursor=None, timeout=30):
    """Pulls from ``cursor`` until ``count`` judgments came (or the time is up)."""
    rows, deadline = [], time.monotonic() + timeout
    while len(rows) < count and time.monotonic() < deadline:
        more, cursor = pull_all(client, project, cursor=cursor)
        rows += more
        if len(rows) < count:
            time.sleep(0.1)
    return rows, cursor
