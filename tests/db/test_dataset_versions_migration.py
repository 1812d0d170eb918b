"""The dataset-versions migration numbers rows that already share a name, then enforces uniqueness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from deepfeat.db.migrate import upgrade
from deepfeat.db.session import make_engine

BEFORE_VERSIONS = "cc7616bc5eeb"


def test_existing_same_name_rows_become_versions(any_db_url: str) -> None:
    upgrade(any_db_url, BEFORE_VERSIONS)
    engine = make_engine(any_db_url)
    try:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p', :t)"), {"t": now}
            )
            for i, (name, builtin) in enumerate([("a", "digits"), ("a", "iris"), ("b", "wine"), ("a", None)]):
                conn.execute(
                    text(
                        "INSERT INTO datasets (id, project_id, name, builtin, format, sha256, size_bytes,"
                        " blob_key, n_rows, schema, created_at) VALUES (:id, 'p1', :name, :builtin, 'npz',"
                        " 'x', 1, 'k', 1, '{}', :t)"
                    ),
                    {"id": f"ds{i}", "name": name, "builtin": builtin, "t": now + timedelta(seconds=i)},
                )
        upgrade(any_db_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, version, layout FROM datasets ORDER BY id")).all()
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("ds0", 1, "npz"),
            ("ds1", 2, "npz"),
            ("ds2", 1, "npz"),
            ("ds3", 3, "npz"),
        ]
    finally:
        engine.dispose()
