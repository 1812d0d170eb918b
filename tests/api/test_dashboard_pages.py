"""Dashboard pages in-process: sign-in by key → signed cookie, CSRF on forms, one project's view."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.models import Artifact, Run
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.storage.local import FileStore
from tests.helpers.api import csrf_of, sign_in
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import MLP_SPEC
from tests.keys import key_headers


def test_sign_in_returns_only_to_this_site(client: TestClient) -> None:
    for target in ("//evil.example/x", "/\\evil.example", "https://evil.example"):
        form = client.get("/signin", params={"next": target})
        assert 'name="next" value="/"' in form.text
        assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
        response = client.post(
            "/signin",
            data={"key": ADMIN_KEY, "csrf": csrf_of(form.text), "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/", "/runs/run_x", "/compare", "/datasets", "/encoders", "/workers"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")
    client.cookies.set("deepfeat_session", "eyJrIjoia2V5In0.forged.sig")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_wrong_key_or_a_foreign_form_does_not_sign_in(client: TestClient) -> None:
    form = client.get("/signin")
    wrong = client.post("/signin", data={"key": "df_nope", "csrf": csrf_of(form.text), "next": "/"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    client.cookies.clear()  # a form posted from another site has no sign-in cookie from us
    foreign = client.post("/signin", data={"key": ADMIN_KEY, "csrf": csrf_of(form.text), "next": "/"})
    assert "deepfeat_session" not in foreign.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_signed_in_pages_show_this_projects_runs(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = client.post("/v1/runs", json={**MLP_SPEC, "name": "mine"}, headers=admin_headers).json()["id"]
    other = key_headers(settings, "write", project="other")
    theirs = client.post("/v1/runs", json={**MLP_SPEC, "name": "theirs"}, headers=other).json()["id"]

    sign_in(client)
    runs = client.get("/")
    assert run_id in runs.text
    assert "#1 in queue" in runs.text
    assert theirs not in runs.text
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert "no diagnostics recorded" in page.text
    assert "Cancel run" in page.text
    assert client.get(f"/runs/{theirs}").status_code == 404
    assert client.get(f"/runs/{theirs}/events", headers={"Accept": "text/event-stream"}).status_code == 404
    assert client.get("/?status=cancelled").text.count("data-run-id=") == 0
    for path in ("/compare?run=" + run_id, "/datasets", "/encoders", "/workers"):
        assert client.get(path).status_code == 200, path
    assert "no encoders yet" in client.get("/encoders").text
    assert "digits" in client.get("/datasets").text


def test_cancel_needs_the_csrf_token(client: TestClient, admin_headers: dict[str, str]) -> None:
    run_id = client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()["id"]
    csrf = sign_in(client)
    refused = client.post(f"/runs/{run_id}/cancel", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get(f"/v1/runs/{run_id}", headers=admin_headers).json()["status"] == "queued"
    done = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get(f"/v1/runs/{run_id}", headers=admin_headers).json()["status"] == "cancelled"
    again = client.post(f"/runs/{run_id}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 303  # already terminal: back to the page, which says so


def test_sign_out_ends_the_session(client: TestClient) -> None:
    csrf = sign_in(client)
    assert client.post("/signout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    out = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_learning_health_lists_the_diagnostics_a_run_recorded(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()["id"]
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        LeaseRepository(session).record_metrics(
            run_id, 1, 1, 10, {"loss": 0.5, "grad_norm/fc1": 0.25, "dead_relu/fc1": 0.125}
        )
        session.commit()
    engine.dispose()
    sign_in(client)
    page = client.get(f"/runs/{run_id}").text
    assert "no diagnostics recorded" not in page
    assert "Gradient norm per layer" in page
    assert "Dead-unit fraction per layer" in page
    assert "Saturated-unit fraction" not in page
    assert ">fc1<" in page


def test_image_artifacts_show_on_the_run_page(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    run_id = client.post("/v1/runs", json=MLP_SPEC, headers=admin_headers).json()
    blob = FileStore(settings.artifacts_dir).put_bytes(b"\x89PNG fake")
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        LeaseRepository(session).add_artifact(
            Artifact(
                id="art_1",
                project_id=session.get_one(Run, run_id["id"]).project_id,
                run_id=run_id["id"],
                name="samples/epoch-0001.png",
                media_type="image/png",
                path=blob.key,
                sha256=blob.sha256,
                size_bytes=blob.size_bytes,
            )
        )
        session.commit()
    engine.dispose()
    sign_in(client)
    page = client.get(f"/runs/{run_id['id']}").text
    assert f'<img src="/runs/{run_id["id"]}/artifacts/samples/epoch-0001.png"' in page
    image = client.get(f"/runs/{run_id['id']}/artifacts/samples/epoch-0001.png")
    assert image.status_code == 200
    assert image.content == b"\x89PNG fake"


def test_an_autoencoder_run_shows_reconstructions_and_its_anomaly_histogram(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    spec = {
        **MLP_SPEC,
        "task": "autoencoder",
        "model": {"type": "autoencoder", "hidden": [8], "latent_dim": 2},
    }
    run_id = client.post("/v1/runs", json=spec, headers=admin_headers).json()["id"]
    store = FileStore(settings.artifacts_dir)
    files = {
        "reconstructions.json": {
            "features": 64,
            "inputs": [[0.0, 1.0, 0.5]],
            "reconstructions": [[0.1, 0.9, 0.4]],
            "errors": [0.01],
        },
        # An older run: only the percentiles were kept; the page rebuilds the histogram from them.
        "anomaly.json": {"fpr": 0.01, "threshold": 0.9, "quantiles": [i / 100 for i in range(101)], "n": 300},
    }
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        project_id = session.get_one(Run, run_id).project_id
        for name, body in files.items():
            blob = store.put_bytes(json.dumps(body).encode())
            LeaseRepository(session).add_artifact(
                Artifact(
                    id=f"art_{name[:5]}",
                    project_id=project_id,
                    run_id=run_id,
                    name=name,
                    media_type="application/json",
                    path=blob.key,
                    sha256=blob.sha256,
                    size_bytes=blob.size_bytes,
                )
            )
        session.commit()
    engine.dispose()
    sign_in(client)
    page = client.get(f"/runs/{run_id}").text
    assert page.count('<svg class="pair"') == 1
    assert "first 3 of 64 features" in page
    assert page.count('<rect class="bar"') == 30
    assert 'data-threshold="0.9"' in page
    assert "from its percentiles" in page


def test_a_dataset_page_previews_its_first_rows(client: TestClient, admin_headers: dict[str, str]) -> None:
    digits = client.post("/v1/datasets", json={"builtin": "digits"}, headers=admin_headers).json()["id"]
    iris = client.post("/v1/datasets", json={"builtin": "iris"}, headers=admin_headers).json()["id"]
    sign_in(client)
    assert f'href="/datasets/{digits}"' in client.get("/datasets").text
    images = client.get(f"/datasets/{digits}").text
    assert images.count('<img class="thumb" src="data:image/png;base64,') == 10
    table = client.get(f"/datasets/{iris}").text
    assert table.count("<tr data-row=") == 10
    assert "sepal length (cm)" in table
    assert "setosa" in table  # the target by its class name
    assert client.get("/datasets/ds_nope").status_code == 404
    assert "pretrained catalogue" in client.get("/encoders").text.lower()
