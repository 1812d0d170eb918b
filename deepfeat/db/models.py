"""The record of truth: every table deepfeat keeps. The broker only ever carries a run id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from deepfeat.data.schema import DatasetSchema
from deepfeat.db.types import DatasetSchemaType, JSONType, UTCDateTime, utcnow

# Stable constraint names so Alembic migrations can drop/alter them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONType, datetime: UTCDateTime}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """Only the sha256 of a key and a short prefix (to tell keys apart in lists) are kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Dataset(Base):
    """Immutable once created. `blob_key` is the normalised form: a JSON manifest of `.npy` blobs
    (`layout="npy"`) or, for rows from before that, one `.npz` (`layout="npz"`). `sha256`/`size_bytes`
    describe the uploaded bytes (`source_key`); for built-ins, the manifest."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("project_id", "builtin", name="uq_datasets_project_builtin"),
        # Two uploads racing for the next version of a name: the second insert fails rather than both
        # becoming "version 2".
        UniqueConstraint("project_id", "name", "version", name="uq_datasets_project_name_version"),
        Index("ix_datasets_project_name", "project_id", "name"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    builtin: Mapped[str | None] = mapped_column(String(100), default=None)
    format: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(500))  # the normalised arrays in the artifact store
    n_rows: Mapped[int] = mapped_column(Integer)
    schema: Mapped[DatasetSchema] = mapped_column(DatasetSchemaType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Uploading under an existing name makes the next version; earlier versions stay usable.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    layout: Mapped[str] = mapped_column(String(16), default="npy", server_default="npz")
    source_key: Mapped[str | None] = mapped_column(String(500), default=None)
    # Set when a dataset that finished runs still point at is deleted: the row stays for them.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class LeasedJob:
    """The columns of a job over a dataset that a worker leases (runs, extraction jobs): claimed by a
    conditional UPDATE that counts `attempt`, which doubles as the fencing number every later write of
    the worker checks (`db/repositories/fencing.py`)."""

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(8), default="cpu")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Run(LeasedJob, Base):
    """A training job. `attempt` doubles as the fencing number: a stale worker's writes check it."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("project_id", "idempotency_key", name="uq_runs_project_idempotency_key"),
        Index("ix_runs_project_status", "project_id", "status"),
        # -- finding runs (issue 19: experiments, tags, metadata) --
        Index("ix_runs_project_experiment", "project_id", "experiment"),
    )

    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column()
    best_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)

    # --- sweeps (issue 19, part 3): a child run of a sweep is an ordinary run plus these two ---------
    sweep_id: Mapped[str | None] = mapped_column(
        ForeignKey("sweeps.id", ondelete="SET NULL"), default=None, index=True
    )
    # {"number": n, "params": {path: Optuna's value}, "system_attrs": {...}}: what the study is rebuilt
    # from (deepfeat/sweeps/study.py); the pruner's rung values live in system_attrs.
    sweep_trial: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # --- end sweeps ----------------------------------------------------------------------------------

    # -- finding runs (issue 19: experiments, tags, metadata) --------------------------------------------
    # Kept beside `spec`, not in it: they can be edited after submission (PATCH), the spec cannot.
    experiment: Mapped[str] = mapped_column(String(200), default="default", server_default="default")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default="[]")
    # `metadata` is the column; the attribute cannot be named so (SQLAlchemy's declarative base owns it).
    run_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, server_default="{}")
    # -- end of finding runs ------------------------------------------------------------------------------


class RunMetric(Base):
    __tablename__ = "run_metrics"
    # One value per (run, key, step): a resumed attempt overwrites rather than duplicates.
    __table_args__ = (UniqueConstraint("run_id", "key", "step", name="uq_run_metrics_run_key_step"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunEvent(Base):
    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    """A file in the content-addressed store, attached to a run under a name (e.g. `model.safetensors`)."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("run_id", "name", name="uq_artifacts_run_name"),
        UniqueConstraint("extraction_id", "name", name="uq_artifacts_extraction_name"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), default=None)
    # Set instead of run_id for what an extraction job wrote (embeddings.npy, row_ids.npy).
    extraction_id: Mapped[str | None] = mapped_column(
        ForeignKey("extractions.id", ondelete="CASCADE"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Extraction(LeasedJob, Base):
    """A batch job embedding a whole dataset with an encoder. Its own table (not `runs`): the reaper and
    the train task must never take one for training. Leased and fenced by `attempt` like a run;
    `progress` holds `rows_done` and `rows_total`."""

    __tablename__ = "extractions"
    __table_args__ = (Index("ix_extractions_project_status", "project_id", "status"),)

    encoder: Mapped[str] = mapped_column(String(200))  # the resolved ref: `minilm-l6` or `name@3`
    # For a registered encoder, the version pinned at submit time (an alias moving later changes nothing).
    encoder_id: Mapped[str | None] = mapped_column(
        ForeignKey("encoders.id", ondelete="RESTRICT"), default=None
    )
    options: Mapped[dict[str, Any]] = mapped_column()  # layer, pool, normalize, precision
    dim: Mapped[int | None] = mapped_column(Integer, default=None)


class Encoder(Base):
    """An encoder registered from a run as `name@version`; pretrained ones live in the code catalogue."""

    __tablename__ = "encoders"
    __table_args__ = (UniqueConstraint("project_id", "name", "version", name="uq_encoders_name_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    layer: Mapped[str | None] = mapped_column(String(200), default=None)
    modality: Mapped[str] = mapped_column(String(32))
    dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # (issue 19) An archived version is no longer listed or resolved; its row stays for what it served.
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class EncoderAlias(Base):
    """A movable name (`latest`, `prod`) pointing at one version of an encoder."""

    __tablename__ = "encoder_aliases"
    __table_args__ = (UniqueConstraint("project_id", "name", "alias", name="uq_encoder_aliases_name_alias"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(100))
    encoder_id: Mapped[str] = mapped_column(ForeignKey("encoders.id", ondelete="CASCADE"))


class Worker(Base):
    """A Celery worker's heartbeat: who it is, what it can run, when it last spoke.

    Global infrastructure, not a project's object. Each worker upserts its own row every
    `heartbeat_seconds` and deletes it on a clean shutdown; a row not refreshed for a few heartbeats is a
    worker that died. What it trains is not kept here: `processes` names its pool processes as they
    appear in `runs.lease_owner`, so readers join the live leases (always as fresh as the lease).
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # Celery node name, e.g. deepfeat-1@host
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(16))  # cpu | cuda
    device_name: Mapped[str] = mapped_column(String(200))  # e.g. "NVIDIA H200", "cpu (16 cores)"
    queues: Mapped[list[str]] = mapped_column(JSONType)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    processes: Mapped[list[str]] = mapped_column(JSONType)  # lease owners (`host:pid`) of its pool
    # What a data-parallel run may use here (training.world_size); None: a worker from before they were kept.
    cpu_cores: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Its pool processes' devices: [{index, process (as in `processes`), device (`cpu`|`cuda:k`), gpu}].
    slots: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Sweep(Base):
    """A hyperparameter search: its spec, and how many trials were proposed (also the compare-and-set
    token that lets one driver at a time propose the next)."""

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_project_status", "project_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running")
    proposed: Mapped[int] = mapped_column(Integer, default=0)
    run_cap: Mapped[int] = mapped_column(Integer)
    best_run_id: Mapped[str | None] = mapped_column(String(40), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Webhook(Base):
    """An endpoint of a project told about events (`events`: names such as `run.succeeded`). `secret`
    is the Standard Webhooks signing key (`whsec_...`), shown once at creation."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: sent by the workers' dispatcher, retried with backoff until
    `delivered` or `failed` (attempts spent). The row is the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the `webhook-id` header: one per event
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class DeploymentState(Base):
    """Small values every API process and worker of a deployment must agree on, kept in the database
    because hosts share no disk: the dashboard's cookie-signing secret (made once), and counters that
    change when something every process caches must be re-checked (`keys_revoked`)."""

    __tablename__ = "deployment_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
