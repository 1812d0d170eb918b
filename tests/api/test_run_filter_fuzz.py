"""The filter language under fuzzing: no input makes the parser raise anything but its 422, and no input
sent to `GET /v1/runs` gets a 500 — on SQLite and on PostgreSQL, over runs whose JSON holds numbers,
strings, booleans, lists and nulls (type mismatches must be false, not a cast error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from deepfeat.config import Settings
from deepfeat.db.migrate import upgrade
from deepfeat.db.models import Run
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.specs.run_filter import FilterError, parse_filter
from tests.helpers.env import ADMIN_KEY
from tests.helpers.specs import MLP_SPEC

FIELDS = [
    "metrics.val_accuracy",
    "metrics.val_loss",
    "metrics.missing",
    "metadata.team",
    "training.optimizer.lr",
    "training.optimizer.name",
    "training.epochs",
    "model.hidden",
    "model.hidden.0",
    "model.hidden.7",
    "model.batchnorm",
    "target",
    "task",
    "spec.model.type",
    "name",
]
PIECES = [*FIELDS, "==", "!=", "<", "<=", ">", ">=", "=", "and", "or", "not", "(", ")"]
PIECES += ["0", "-1.5", "1e999", "0.9", "'mlp'", '"x"', '"\\u0000"', '"\\ud800"', "true", "false", "null"]
# Mostly well-formed pieces (to reach the SQL), plus anything at all (to hit the parser's edges).
filters = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join),
    st.builds(
        lambda f, op, v: f"{f} {op} {v}",
        st.sampled_from(FIELDS),
        st.sampled_from(["==", "!=", "<", ">=", "="]),
        st.one_of(st.floats(allow_nan=False).map(repr), st.sampled_from(["'a'", "true", '"cnn"'])),
    ),
    st.text(max_size=60),
)


@given(st.one_of(filters, st.text(max_size=300)))
@settings(max_examples=500, deadline=None)
def test_parsing_any_text_answers_a_tree_or_a_filter_error(text: str) -> None:
    offset = None
    try:
        parse_filter(text)
    except FilterError as exc:
        offset = exc.offset
    assert offset is None or 0 <= offset <= len(text)


@pytest.fixture
def api(any_db_url: str, data_dir: Path) -> Iterator[TestClient]:
    from service.app import create_app

    upgrade(any_db_url)
    config = Settings(data_dir=data_dir, database_url=any_db_url, bootstrap_key=ADMIN_KEY)
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        first = client.post("/v1/runs", json={**MLP_SPEC, "metadata": {"team": "a"}}).json()
        client.post("/v1/runs", json={**MLP_SPEC, "target": "label", "model": {"type": "mlp", "hidden": [8]}})
        engine = make_engine(config.resolved_database_url)
        with make_session_factory(engine)() as session:
            best = {"val_accuracy": 0.9, "val_loss": 0.1, "epoch": 3}
            session.execute(update(Run).where(Run.id == first["id"]).values(best_metrics=best))
            session.commit()
        engine.dispose()
        yield client


@given(filters)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_filter_gets_a_500(api: TestClient, text: str) -> None:
    response = api.get("/v1/runs", params={"filter": text, "sort": "metrics.val_loss"})
    assert response.status_code in (200, 422), (text, response.text)
    if response.status_code == 422:
        assert response.json()["error"] in ("invalid_filter", "invalid_request")
