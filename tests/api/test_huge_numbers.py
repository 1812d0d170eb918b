"""Numbers no column can hold are answered like any other miss, never with a driver error (found by
schemathesis: `version: 278790576300154880524288` once gave a 500)."""

from __future__ import annotations

from fastapi.testclient import TestClient

HUGE = "99999999999999999999999"


def test_huge_numbers_in_every_lookup_are_4xx(client: TestClient, admin_headers: dict[str, str]) -> None:
    h = admin_headers
    run = client.post(
        "/v1/runs",
        json={"dataset": "builtin:iris", "task": "classification", "model": {"type": "mlp"}},
        headers=h,
    ).json()
    assert client.get(f"/v1/runs/{run['id']}/events?after={HUGE}", headers=h).status_code == 422
    stream = client.get(
        f"/v1/runs/{run['id']}/events", headers={**h, "Accept": "text/event-stream", "Last-Event-ID": HUGE}
    )
    assert stream.status_code == 400
    spec = {"dataset": f"iris@{HUGE}", "task": "classification", "model": {"type": "mlp"}}
    refused = client.post("/v1/runs", json=spec, headers=h)
    assert (refused.status_code, refused.json()["loc"]) == (422, "/dataset")
    embed = client.post(f"/v1/encoders/feats@{HUGE}/embed", json={"inputs": [[1.0]]}, headers=h)
    assert embed.status_code == 404
    alias = client.post("/v1/encoders/feats/aliases", json={"alias": "prod", "version": int(HUGE)}, headers=h)
    assert alias.status_code == 422
