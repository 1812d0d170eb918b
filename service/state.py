"""What the app holds for its lifetime: settings, the DB engine, the artifact store, the queue door, the
per-key rate limit."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from deepfeat.config import Settings
from deepfeat.services.encoders import Resolved
from deepfeat.services.ref_cache import RefCache
from deepfeat.storage import ArtifactStore
from service.ratelimit import KeyRateLimiter
from workers.queue import Enqueuer


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ArtifactStore
    enqueue: Enqueuer
    limiter: KeyRateLimiter
    refs: RefCache[Resolved] = field(default_factory=RefCache)  # registered encoders, by ref
