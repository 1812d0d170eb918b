"""POST /v1/datasets with files: each format end to end, dedupe and versions, refusals that leave
nothing behind, the size cap, delete, preview."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from deepfeat.config import Settings
from deepfeat.data.schema import DatasetSchema
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Dataset, Run
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.services.datasets import load_arrays
from deepfeat.specs.runs import RunSpec
from deepfeat.storage.local import FileStore
from deepfeat.train.job import train
from tests import datafiles

CAP = 256 * 1024


@pytest.fixture
def both(any_db_url: str, data_dir: Path) -> Iterator[tuple[TestClient, Settings]]:
    """A client on SQLite and on PostgreSQL (when CI gives one)."""
    from service.app import create_app
    from tests.helpers.env import ADMIN_KEY

    s = Settings(data_dir=data_dir, bootstrap_key=ADMIN_KEY, database_url=any_db_url)
    upgrade(s.resolved_database_url)
    with TestClient(create_app(s)) as test_client:
        yield test_client, s


@pytest.fixture
def small_cap(settings: Settings) -> Settings:
    return settings.model_copy(update={"upload_max_bytes": CAP})


@pytest.fixture
def capped(small_cap: Settings) -> Iterator[TestClient]:
    from service.app import create_app

    with TestClient(create_app(small_cap)) as test_client:
        yield test_client


def upload(client: TestClient, headers: dict[str, str], filename: str, data: bytes, **fields: Any) -> Any:
    return client.post(
        "/v1/datasets",
        files={"file": (filename, data, "application/octet-stream")},
        data={k: str(v) for k, v in fields.items()},
        headers=headers,
    )


def blobs(settings: Settings) -> set[str]:
    root = settings.artifacts_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def db_rows(settings: Settings) -> list[Dataset]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(Dataset)))
    finally:
        engine.dispose()


class Quiet:
    def epoch_end(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        self.metrics = metrics

    def should_stop(self) -> bool:
        return False


def train_from_db(settings: Settings, dataset_id: str, task: str) -> dict[str, float]:
    """What the worker does: load the dataset row's arrays from the store, train one epoch."""
    row = next(d for d in db_rows(settings) if d.id == dataset_id)
    data = load_arrays(row, FileStore(settings.artifacts_dir))
    spec = RunSpec.model_validate(
        {
            "dataset": dataset_id,
            "task": task,
            "model": {"type": "mlp", "hidden": [8]},
            "training": {"epochs": 1},
        }
    )
    reporter = Quiet()
    train(spec, data, reporter, settings)
    return reporter.metrics


FORMATS = [
    ("people.csv", datafiles.csv_bytes(), {"target": "kind"}, "tabular", "classification"),
    ("people.tsv", datafiles.csv_bytes(delimiter="\t"), {"target": "kind"}, "tabular", "classification"),
    ("prices.parquet", datafiles.parquet_bytes(), {"target": "price"}, "tabular", "regression"),
    (
        "seq.npz",
        datafiles.npz_bytes(np.random.default_rng(0).normal(size=(30, 5, 2)), np.arange(30) % 3),
        {},
        "sequence",
        "classification",
    ),
    ("pics.zip", datafiles.image_zip_bytes(), {"image_size": "16x16"}, "image", "classification"),
    ("notes.jsonl", datafiles.jsonl_bytes(), {}, "text", None),
]


@pytest.mark.parametrize(("filename", "data", "fields", "modality", "task"), FORMATS)
def test_each_format_uploads_and_trains(
    client: TestClient,
    admin_headers: dict[str, str],
    settings: Settings,
    filename: str,
    data: bytes,
    fields: dict[str, Any],
    modality: str,
    task: str | None,
) -> None:
    response = upload(client, admin_headers, filename, data, **fields)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size_bytes"] == len(data)
    assert body["schema"]["modality"] == modality
    assert body["n_rows"] == body["schema"]["n_rows"] > 0
    assert body["name"] == Path(filename).stem
    assert body["version"] == 1
    assert client.get(f"/v1/datasets/{body['id']}", headers=admin_headers).json()["schema"] == body["schema"]
    preview = client.get(f"/v1/datasets/{body['id']}/preview?limit=3", headers=admin_headers)
    assert preview.status_code == 200, preview.text
    assert len(preview.json()["rows"]) == 3
    if task is None:  # text trains through encoders (later); an mlp is refused before queueing
        spec = {"dataset": body["id"], "task": "classification", "model": {"type": "mlp"}}
        refused = client.post("/v1/runs:validate", json=spec, headers=admin_headers)
        assert refused.status_code == 422
        assert refused.json()["loc"] == "/model/type"
        return
    spec = {"dataset": body["id"], "task": task, "model": {"type": "mlp", "hidden": [8]}}
    assert client.post("/v1/runs:validate", json=spec, headers=admin_headers).status_code == 200
    assert "loss" in train_from_db(settings, body["id"], task)


def test_preview_shows_images_as_png_and_tables_by_column(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    pics = upload(client, admin_headers, "p.zip", datafiles.image_zip_bytes()).json()
    rows = client.get(f"/v1/datasets/{pics['id']}/preview", headers=admin_headers).json()["rows"]
    assert rows[0]["image"].startswith("data:image/png;base64,")
    assert rows[0]["target"] in ("red", "blue")
    table = upload(client, admin_headers, "t.csv", datafiles.csv_bytes(), target="kind").json()
    first = client.get(f"/v1/datasets/{table['id']}/preview?limit=1", headers=admin_headers).json()["rows"][0]
    assert first["features"]["colour"] == "red"  # decoded back from one-hot
    assert first["target"] in ("big", "small")
    digits = client.post("/v1/datasets", json={"builtin": "digits"}, headers=admin_headers).json()
    shown = client.get(f"/v1/datasets/{digits['id']}/preview", headers=admin_headers).json()
    assert shown["rows"][0]["image"].startswith("data:image/png;base64,")


def test_same_bytes_share_blobs_and_names_version(
    both: tuple[TestClient, Settings], admin_headers: dict[str, str]
) -> None:
    client, settings = both
    data = datafiles.csv_bytes()
    first = upload(client, admin_headers, "a.csv", data, target="kind")
    stored = blobs(settings)
    again = upload(client, admin_headers, "a.csv", data, target="kind")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other_name = upload(client, admin_headers, "a.csv", data, target="kind", name="copy").json()
    assert other_name["id"] != first.json()["id"]
    assert other_name["sha256"] == first.json()["sha256"]
    assert blobs(settings) == stored  # one copy of the bytes and of the arrays
    v2 = upload(client, admin_headers, "a.csv", datafiles.csv_bytes(seed=5), target="kind").json()
    assert (v2["name"], v2["version"]) == ("a", 2)
    listed = client.get("/v1/datasets?name=a", headers=admin_headers).json()["data"]
    assert sorted(d["version"] for d in listed) == [1, 2]
    # name and name@version resolve in run specs
    for ref in ("a", "a@1", "a@2"):
        spec = {"dataset": ref, "task": "classification", "model": {"type": "mlp"}}
        assert client.post("/v1/runs:validate", json=spec, headers=admin_headers).status_code == 200, ref
    spec = {"dataset": "a@3", "task": "classification", "model": {"type": "mlp"}}
    assert client.post("/v1/runs:validate", json=spec, headers=admin_headers).json()["loc"] == "/dataset"


BAD = [
    ("ragged.csv", b"a,b,t\n1,2,0\n3,4\n", {}, 422, "row 2"),
    ("text.csv", b"a,t\n1,0\n2,1\nabc,0\n", {"target": "t"}, 422, "'abc' is not a number"),
    ("nan.csv", b"a,t\n1,0\nNaN,1\n", {"target": "t"}, 422, "row 2: value missing"),
    ("inf.csv", b"a,t\n1,0\ninf,1\n", {"target": "t"}, 422, "not a finite number"),
    ("notarget.csv", b"a,t\n1,0\n2,\n", {"target": "t"}, 422, "(the target), row 2"),
    ("empty.csv", b"", {}, 422, "empty"),
    ("what.bin", b"\x00\xff\xfe" * 50, {}, 415, "cannot tell the format"),
    ("bad.zip", datafiles.zip_with([("a/x.png", b"not an image")]), {}, 422, "'a/x.png'"),
    ("nolabel.csv", b"a,b\n1,2\n", {"target": "label"}, 422, "'label' is not in the table"),
    ("slip.zip", datafiles.zip_with([("../../x.png", datafiles.png_bytes((1, 1, 1)))]), {}, 422, "'..'"),
    ("bomb.zip", datafiles.bomb_zip(16), {}, 422, "expands past the limit"),
    ("a.csv", b"a,t\n1,0\n", {"format": "xlsx"}, 422, "format"),
    ("a.zip", datafiles.image_zip_bytes(1), {"image_size": "big"}, 422, "size like 32"),
]


@pytest.mark.parametrize(("filename", "data", "fields", "status", "words"), BAD)
def test_bad_uploads_leave_nothing(
    small_cap: Settings,
    admin_headers: dict[str, str],
    filename: str,
    data: bytes,
    fields: dict[str, Any],
    status: int,
    words: str,
) -> None:
    from service.app import create_app

    limited = small_cap.model_copy(update={"upload_max_extracted_bytes": 4 << 20})
    with TestClient(create_app(limited)) as client:
        response = upload(client, admin_headers, filename, data, **fields)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert blobs(limited) == set()  # neither the upload, nor arrays, nor extraction scraps, nor tmp
    assert db_rows(limited) == []


def test_over_the_cap_is_413_and_keeps_nothing(
    capped: TestClient, admin_headers: dict[str, str], small_cap: Settings
) -> None:
    big = b"a,t\n" + b"1,0\n" * (CAP // 4 + 10)
    response = upload(capped, admin_headers, "big.csv", big, target="t")
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream itself is cut at the cap
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for _ in range(CAP // 1024 + 10):
            yield b"1" * 1024
        yield b"\r\n--xx--\r\n"

    streamed = capped.post(
        "/v1/datasets",
        content=chunks(),
        headers={**admin_headers, "Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert streamed.status_code == 413, streamed.text
    assert blobs(small_cap) == set()
    assert db_rows(small_cap) == []
    just_under = b"a,t\n" + b"1,0\n2,1\n" * ((CAP - 100) // 8)
    assert upload(capped, admin_headers, "ok.csv", just_under, target="t").status_code == 201


def test_malformed_requests(client: TestClient, admin_headers: dict[str, str], settings: Settings) -> None:
    no_file = client.post(
        "/v1/datasets", data={"name": "x"}, files={"other": ("x", b"1")}, headers=admin_headers
    )
    assert no_file.status_code == 400
    assert "`file`" in no_file.json()["detail"]
    plain = client.post("/v1/datasets", content=b"a,b", headers={**admin_headers, "Content-Type": "text/csv"})
    assert plain.status_code == 400
    assert blobs(settings) == set()


def test_delete(both: tuple[TestClient, Settings], admin_headers: dict[str, str]) -> None:
    client, settings = both
    data = datafiles.csv_bytes()
    keep = upload(client, admin_headers, "keep.csv", data, target="kind").json()
    gone = upload(client, admin_headers, "gone.csv", datafiles.csv_bytes(seed=9), target="kind").json()
    shared = upload(client, admin_headers, "keep.csv", data, target="kind", name="twin").json()
    before = blobs(settings)

    assert client.delete(f"/v1/datasets/{gone['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"/v1/datasets/{gone['id']}", headers=admin_headers).status_code == 404
    assert len(blobs(settings)) < len(before)  # its own blobs went

    after_gone = blobs(settings)
    assert client.delete(f"/v1/datasets/{shared['id']}", headers=admin_headers).status_code == 204
    assert blobs(settings) == after_gone  # `keep` still uses every one of them

    spec = {"dataset": keep["id"], "task": "classification", "model": {"type": "mlp"}}
    run = client.post("/v1/runs", json=spec, headers=admin_headers).json()
    assert run["dataset_id"] == keep["id"]
    assert run["dataset_sha256"] == keep["sha256"]
    busy = client.delete(f"/v1/datasets/{keep['id']}", headers=admin_headers)
    assert busy.status_code == 409
    assert run["id"] in busy.json()["detail"]

    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(status="succeeded"))
        session.commit()
    engine.dispose()
    assert client.delete(f"/v1/datasets/{keep['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"/v1/datasets/{keep['id']}", headers=admin_headers).status_code == 404
    assert client.get(f"/v1/runs/{run['id']}", headers=admin_headers).json()["dataset_id"] == keep["id"]
    assert not any(k.startswith("blobs/") for k in blobs(settings))
    assert client.delete("/v1/datasets/ds_nope", headers=admin_headers).status_code == 404


def test_resending_an_older_version_makes_it_the_latest_again(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    a, b = datafiles.csv_bytes(seed=1), datafiles.csv_bytes(seed=2)
    v1 = upload(client, admin_headers, "d.csv", a, target="kind").json()
    v2 = upload(client, admin_headers, "d.csv", b, target="kind")
    same = upload(client, admin_headers, "d.csv", b, target="kind")
    assert (v2.status_code, same.status_code, same.json()["id"]) == (201, 200, v2.json()["id"])
    v3 = upload(client, admin_headers, "d.csv", a, target="kind")
    assert v3.status_code == 201
    assert v3.json()["version"] == 3
    assert v3.json()["sha256"] == v1["sha256"]
    other_options = upload(client, admin_headers, "d.csv", a, target="colour")
    assert other_options.status_code == 201  # the same bytes read another way are another dataset
    assert other_options.json()["schema"]["target"] == "colour"


def test_uploads_need_a_write_key_and_store_nothing_without(client: TestClient, settings: Settings) -> None:
    response = client.post("/v1/datasets", files={"file": ("a.csv", datafiles.csv_bytes())})
    assert response.status_code == 401
    assert blobs(settings) == set()


def test_link_and_device_archives_are_refused_over_http(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    png = datafiles.png_bytes((1, 2, 3))
    for entries in (
        [("a/1.png", png), datafiles.symlink_entry("a/2.png", "/etc/passwd")],
        [("a/1.png", png), datafiles.device_entry("a/2.png")],
        [("a/1.png", png), ("/abs/2.png", png)],
    ):
        response = upload(client, admin_headers, "evil.zip", datafiles.zip_with(entries))
        assert response.status_code == 422
        assert response.json()["entry"]
    assert blobs(settings) == set()
    assert db_rows(settings) == []


def test_openapi_describes_the_upload(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]
    assert {"file", "target", "missing", "image_size"} <= set(
        content["multipart/form-data"]["schema"]["properties"]
    )
    assert "/v1/datasets/{dataset_id}/preview" in spec["paths"]


def test_builtin_sequence_text_and_mnist_over_http(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name, modality in (("waves", "sequence"), ("faq-intents", "text"), ("mnist-5k", "image")):
        body = client.post("/v1/datasets", json={"builtin": name}, headers=admin_headers).json()
        assert body["schema"]["modality"] == modality
        rows = client.get(f"/v1/datasets/{body['id']}/preview?limit=2", headers=admin_headers).json()["rows"]
        key = {"sequence": "sequence", "text": "text", "image": "image"}[modality]
        assert all(key in r and "target" in r for r in rows)
    spec = {"dataset": "builtin:waves", "task": "classification", "model": {"type": "mlp"}}
    assert client.post("/v1/runs:validate", json=spec, headers=admin_headers).status_code == 200


def test_racing_for_a_version_is_a_409_not_a_500(pg_database: str, data_dir: Path) -> None:
    """Another transaction takes version 2 of a name while an upload computes the same number: the
    upload's insert waits on the unique index, then answers 409 and keeps no blob."""
    import threading

    from service.app import create_app
    from tests.helpers.env import ADMIN_KEY

    s = Settings(data_dir=data_dir, bootstrap_key=ADMIN_KEY, database_url=pg_database)
    upgrade(pg_database)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with TestClient(create_app(s)) as client:
        first = upload(client, headers, "a.csv", datafiles.csv_bytes(), target="kind").json()
        stored = blobs(s)
        engine = make_engine(pg_database)
        other = make_session_factory(engine)()
        row = next(d for d in db_rows(s) if d.id == first["id"])
        other.add(
            Dataset(
                id="ds_racer",
                project_id=row.project_id,
                name="a",
                format="csv",
                sha256="0" * 64,
                size_bytes=1,
                blob_key="blobs/00/none",
                n_rows=1,
                schema=DatasetSchema(),
                version=2,
            )
        )
        other.flush()  # holds version 2 of "a", uncommitted
        result: dict[str, Any] = {}
        racer = threading.Thread(
            target=lambda: result.update(
                r=upload(client, headers, "a.csv", datafiles.csv_bytes(seed=3), target="kind")
            )
        )
        racer.start()
        racer.join(timeout=2)
        assert racer.is_alive()  # waiting on the index
        other.commit()
        other.close()
        engine.dispose()
        racer.join(timeout=30)
        response = result["r"]
        assert response.status_code == 409, response.text
        assert "send this one again" in response.json()["detail"]
        assert blobs(s) == stored
