"""Deleting runs frees the storage only they used; encoder versions are archived first, never while an
alias other than `latest` points at them; the project's storage totals follow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Encoder, EncoderAlias
from deepfeat.db.repositories.leases import LeaseRepository
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.ids import new_id
from deepfeat.storage.backends import open_store
from deepfeat.storage.local import FileStore
from deepfeat.train.stored_checkpoints import StoredCheckpoints, checkpoints_prefix
from tests.helpers.db import succeed_with_model
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import MLP_SPEC


@pytest.fixture
def api(any_db_url: str, data_dir: Path) -> Iterator[tuple[TestClient, Settings]]:
    from service.app import create_app

    upgrade(any_db_url)
    settings = Settings(data_dir=data_dir, database_url=any_db_url, bootstrap_key=ADMIN_KEY)
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield client, settings


def finished_run(client: TestClient, settings: Settings, weights: bytes, encoder: str | None = None) -> str:
    """A run that succeeded with `weights` as its model artifact, the way a worker records it; with
    `encoder`, registered as `encoder@<next version>`, `latest` moved to it."""
    run_id: str = client.post("/v1/runs", json=MLP_SPEC).json()["id"]
    store = FileStore(settings.artifacts_dir)
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        run, _ = succeed_with_model(session, store, run_id, weights, {"val_accuracy": 0.9})
        if encoder:
            version = len(session.query(Encoder).filter_by(name=encoder).all()) + 1
            row = Encoder(
                id=new_id("enc"),
                project_id=run.project_id,
                name=encoder,
                version=version,
                run_id=run_id,
                modality="numeric",
                dim=8,
            )
            session.add(row)
            session.flush()
            session.query(EncoderAlias).filter_by(name=encoder, alias="latest").delete()
            session.add(
                EncoderAlias(project_id=run.project_id, name=encoder, alias="latest", encoder_id=row.id)
            )
        session.commit()
    engine.dispose()
    (settings.checkpoints_dir / run_id).mkdir(parents=True)
    (settings.checkpoints_dir / run_id / "last.pt").write_bytes(b"checkpoint")
    return run_id


def blob_path(settings: Settings, data: bytes) -> Path:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    found = [p for p in settings.artifacts_dir.rglob("*") if p.is_file() and digest in p.name]
    assert len(found) <= 1
    return found[0] if found else settings.artifacts_dir / "absent"


def test_deleting_runs_frees_a_blob_only_when_no_row_refers_to_it(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    shared = b"weights shared by two runs"
    first = finished_run(client, settings, shared)
    second = finished_run(client, settings, shared)
    usage = client.get("/v1/projects/default").json()["usage"]
    assert usage["artifacts_bytes"] == len(shared)  # one blob, counted once

    assert client.delete(f"/v1/runs/{first}").status_code == 204
    assert client.get(f"/v1/runs/{first}").status_code == 404
    assert client.get(f"/v1/runs/{first}/artifacts").status_code == 404
    assert not (settings.checkpoints_dir / first).exists()
    assert blob_path(settings, shared).exists()  # the second run still has it
    assert client.get(f"/v1/runs/{second}/artifacts").json()[0]["size_bytes"] == len(shared)

    assert client.delete(f"/v1/runs/{second}").status_code == 204
    assert not blob_path(settings, shared).exists()
    assert client.get("/v1/projects/default").json()["usage"]["artifacts_bytes"] == 0
    assert client.delete(f"/v1/runs/{second}").status_code == 404


def test_a_run_that_has_not_ended_is_not_deleted(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    queued = client.post("/v1/runs", json=MLP_SPEC).json()["id"]
    refused = client.delete(f"/v1/runs/{queued}")
    assert refused.status_code == 409
    assert "cancel it first" in refused.json()["detail"]
    assert client.post(f"/v1/runs/{queued}/cancel").json()["status"] == "cancelled"
    assert client.delete(f"/v1/runs/{queued}").status_code == 204


def test_an_encoder_is_archived_before_its_run_goes_and_never_under_an_alias(
    api: tuple[TestClient, Settings],
) -> None:
    client, settings = api
    v1 = finished_run(client, settings, b"v1 weights", encoder="emb")
    v2 = finished_run(client, settings, b"v2 weights", encoder="emb")
    refused = client.delete(f"/v1/runs/{v1}")
    assert refused.status_code == 409
    assert refused.json()["encoders"] == ["emb@1"]

    assert client.post("/v1/encoders/emb/aliases", json={"alias": "prod", "version": 1}).status_code == 200
    blocked = client.post("/v1/encoders/emb@1:archive")
    assert blocked.status_code == 409
    assert "emb@prod" in blocked.json()["detail"]
    assert client.post("/v1/encoders/emb/aliases", json={"alias": "prod", "version": 2}).status_code == 200
    archived = client.post("/v1/encoders/emb@1:archive")
    assert archived.status_code == 200, archived.text
    assert archived.json()["archived_at"] is not None
    refs = [e["ref"] for e in client.get("/v1/encoders").json()["data"] if e["kind"] == "registered"]
    assert refs == ["emb@2"]
    assert client.post("/v1/encoders/emb@1:archive").status_code == 404  # archived is gone from refs

    # `latest` does not block: it moves back to the newest version left, or goes with the last one.
    client.post("/v1/encoders/emb/aliases", json={"alias": "prod", "version": 2})
    assert client.post("/v1/encoders/emb@2:archive").status_code == 409  # prod still on 2
    assert client.delete(f"/v1/runs/{v1}").status_code == 204
    assert not blob_path(settings, b"v1 weights").exists()
    assert blob_path(settings, b"v2 weights").exists()
    assert client.get(f"/v1/runs/{v2}").status_code == 200


def test_archiving_the_newest_version_moves_latest_back(api: tuple[TestClient, Settings]) -> None:
    client, settings = api
    finished_run(client, settings, b"a", encoder="two")
    finished_run(client, settings, b"b", encoder="two")
    assert client.post("/v1/encoders/two@2:archive").status_code == 200
    [entry] = [e for e in client.get("/v1/encoders").json()["data"] if e["name"] == "two"]
    assert (entry["version"], entry["aliases"]) == (1, ["latest"])
    assert client.post("/v1/encoders/two@1:archive").status_code == 200
    assert [e for e in client.get("/v1/encoders").json()["data"] if e["name"] == "two"] == []
    assert client.post("/v1/encoders/two/embed", json={"inputs": [[0.0] * 64]}).status_code == 404


@pytest.fixture(params=["file", "s3"])
def on_store(
    request: pytest.FixtureRequest, any_db_url: str, data_dir: Path
) -> Iterator[tuple[TestClient, Settings]]:
    """The API over the local FileStore, and over S3 (a real moto_server)."""
    from service.app import create_app

    upgrade(any_db_url)
    settings = Settings(data_dir=data_dir, database_url=any_db_url, bootstrap_key=ADMIN_KEY)
    if request.param == "s3":
        settings = settings.model_copy(
            update={
                "artifact_url": request.getfixturevalue("s3_url"),
                "s3_endpoint_url": request.getfixturevalue("s3_endpoint"),
            }
        )
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield client, settings


def failed_with_stored_checkpoint(client: TestClient, settings: Settings, run_id: str = "") -> str:
    """A run that failed after writing a checkpoint to the store (as an attempt on another host would
    leave it when the store went down before it could clear them)."""
    run_id = run_id or client.post("/v1/runs", json=MLP_SPEC).json()["id"]
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        leases = LeaseRepository(session)
        attempt = leases.claim(run_id, "test", 60)
        assert attempt is not None
        stored = StoredCheckpoints(open_store(settings), run_id, settings.data_dir / "staging" / run_id)
        stored.save(1, {"w": torch.ones(3)}, {"epoch": 1})
        assert leases.finish(run_id, attempt, "failed", error="the store went down")
        session.commit()
    engine.dispose()
    return run_id


def test_deleting_a_run_removes_its_checkpoints_from_the_object_store(
    on_store: tuple[TestClient, Settings],
) -> None:
    client, settings = on_store
    store = open_store(settings)
    gone, kept = (failed_with_stored_checkpoint(client, settings) for _ in range(2))
    for run_id in (gone, kept):
        assert store.get_pointer(f"{checkpoints_prefix(run_id)}latest.json") is not None
    files = json.loads(store.get_pointer(f"{checkpoints_prefix(gone)}latest.json") or b"{}")["files"]
    assert all(store.has(key) for key in files.values())

    assert client.delete(f"/v1/runs/{gone}").status_code == 204
    assert store.get_pointer(f"{checkpoints_prefix(gone)}latest.json") is None
    assert not any(store.has(key) for key in files.values())
    assert StoredCheckpoints(store, gone, settings.data_dir / "resume" / gone).latest() is None
    # The other run's checkpoint is untouched and still resumes.
    other = StoredCheckpoints(store, kept, settings.data_dir / "resume" / kept).latest()
    assert other is not None
    assert other.epoch == 1
    assert torch.equal(other.model["w"], torch.ones(3))
