"""Keys for tests that need a second project or a narrower scope than the admin key."""

from __future__ import annotations

from deepfeat.config import Settings
from deepfeat.db.session import make_engine, make_session_factory
from deepfeat.services.auth import DEFAULT_PROJECT, create_key, ensure_project


def key_headers(settings: Settings, scope: str = "admin", project: str = DEFAULT_PROJECT) -> dict[str, str]:
    """Authorization headers for a new key of `scope` in `project` (default: the default project)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            key = create_key(session, ensure_project(session, project), scope)
            session.commit()
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {key}"}
