"""Listing registered encoders costs the same few queries for one entry or many (no query per row), and
each entry still shows its run's input shape, weights digest and aliases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from deepfeat.config import Settings
from deepfeat.data.schema import DatasetSchema
from deepfeat.db.models import Artifact, Dataset, Encoder, EncoderAlias
from deepfeat.services.encoders import EncoderService
from deepfeat.storage.local import FileStore
from tests.helpers.db import placeholder_run


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def add_encoders(session: Session, first: int, n: int) -> None:
    for i in range(first, first + n):
        session.add(placeholder_run(f"run_e{i}", "prj_1", "ds_img", status="succeeded"))
        session.flush()
        session.add(
            Artifact(
                id=f"art_{i}",
                project_id="prj_1",
                run_id=f"run_e{i}",
                name="model.safetensors",
                media_type="application/octet-stream",
                path=f"blobs/{i}",
                sha256=f"{i:064d}",
                size_bytes=1,
            )
        )
        session.add(
            Encoder(
                id=f"enc_{i:03d}",
                project_id="prj_1",
                name="e",
                version=i,
                run_id=f"run_e{i}",
                modality="image",
                dim=8,
            )
        )
        session.flush()
        for alias in ("prod", "latest")[: 1 + i % 2]:
            session.add(
                EncoderAlias(project_id="prj_1", name=f"e{i}", alias=alias, encoder_id=f"enc_{i:03d}")
            )
    session.flush()


def test_a_page_of_registered_encoders_costs_the_same_queries_for_one_or_many(
    session: Session, tmp_path: Path
) -> None:
    session.add(
        Dataset(
            id="ds_img",
            project_id="prj_1",
            name="img",
            format="npz",
            sha256="0" * 64,
            size_bytes=1,
            blob_key="blobs/00/1",
            n_rows=1,
            schema=DatasetSchema(modality="image", input_shape=[1, 8, 8]),
        )
    )
    session.flush()
    service = EncoderService(session, "prj_1", Settings(), FileStore(tmp_path))
    add_encoders(session, 1, 1)
    with counted(session) as one:
        single, _ = service.page("enc_", 50)
    add_encoders(session, 2, 6)
    with counted(session) as seven:
        many, _ = service.page("enc_", 50)
    assert len(single) == 1
    assert len(many) == 7
    assert len(seven) == len(one) == 2  # the page, then one query for every entry's facts
    by_id = {e.id: e for e in many}
    assert by_id["enc_002"].input == [1, 8, 8]
    assert by_id["enc_002"].sha256 == f"{2:064d}"
    assert by_id["enc_002"].aliases == ["prod"]
    assert by_id["enc_003"].aliases == ["latest", "prod"]
    assert by_id["enc_003"].ref == "e@3"
