"""One settings object for every process: the API, the workers and the CLI read the same DEEPFEAT_* vars."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deepfeat.cores import available_cores


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPFEAT_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./var"), description="Artifacts, the SQLite files and the admin key."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in the data dir."
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker; default: an embedded SQLite-backed broker that needs no server.",
    )
    bootstrap_key: SecretStr | None = Field(default=None, description="Accepted as an admin key when set.")
    db_pool_size: int = Field(default=5, ge=1, description="Connections per process's pool (PostgreSQL).")

    # Artifacts (deepfeat/storage): the only files hosts share, through an object store when many hosts.
    artifact_url: str | None = Field(
        default=None,
        description="`file:///path` or `s3://bucket/prefix`; default: `artifacts/` in the data dir.",
    )
    s3_endpoint_url: str | None = Field(default=None, description="For S3-compatible services (MinIO...).")
    s3_max_attempts: int = Field(default=5, ge=1, description="Tries per S3 request (backoff between).")
    s3_presigned_downloads: bool = Field(
        default=False,
        description="Downloads answer 307 to a presigned S3 URL instead of streaming through the API.",
    )
    s3_presigned_expiry_s: int = Field(
        default=300, ge=1, le=7 * 86400, description="How long a presigned download URL stays valid."
    )
    cache_dir: Path | None = Field(
        default=None, description="Local cache of objects read from S3; default: `cache/` in the data dir."
    )
    cache_max_bytes: int = Field(default=20 * 2**30, ge=1, description="The local cache's size bound.")

    # Runs: a worker holds a lease it renews by heartbeat; an expired lease means the worker is gone.
    lease_seconds: float = Field(default=60, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    torch_threads: int | None = Field(default=None, ge=1, description="Threads per torch process.")
    run_time_limit_s: float | None = Field(default=None, gt=0, description="Soft limit: fail with `timeout`.")
    # Data-parallel runs (training.world_size > 1): a collective that waits longer than this (a rank that
    # hangs or died) fails the attempt; keep it under lease_seconds - heartbeat_seconds.
    dist_timeout_s: float = Field(default=30.0, gt=0, description="Collective timeout of a run's ranks.")
    dist_startup_timeout_s: float = Field(
        default=300.0, gt=0, description="How long the ranks of a run may take to start and meet."
    )
    reaper_interval_s: float = Field(default=15.0, gt=0)
    requeue_queued_after_s: float = Field(
        default=300.0,
        gt=0,
        description="Re-send the message of a run still queued after this (lost messages).",
    )

    max_concurrent_runs_per_project: int = Field(
        default=4,
        ge=0,
        description="Runs of one project training at once; more wait `queued` (0: no cap).",
    )

    # Per-key rate limit (off by default): a moving window of `rate_limit_burst` requests per
    # `burst / per_second` seconds, so a key may burst and then sustains about `per_second`.
    rate_limit_per_second: float = Field(default=0, ge=0, description="Requests per second per key; 0: off.")
    rate_limit_burst: int | None = Field(
        default=None, ge=1, description="Requests a key may send at once (default: 2 x per second)."
    )
    rate_limit_storage_url: str | None = Field(
        default=None,
        description="`memory://` or `redis://...`; default: the broker's Redis when it is one (shared by "
        "every API process), else memory (per process).",
    )

    # Spec budgets: refused at validation, before anything is queued.
    max_epochs: int = Field(default=1000, ge=1)
    max_layers: int = Field(default=64, ge=1)
    max_batch_size: int = Field(default=65536, ge=1)
    max_params: int = Field(default=50_000_000, ge=1)
    max_memory_bytes: int = Field(default=8 * 2**30, ge=1)

    extraction_chunk_rows: int = Field(
        default=64, ge=1, le=4096, description="Rows per forward pass of a batch extraction job."
    )

    page_size_max: int = Field(default=200, ge=1)
    tei_model: str = Field(
        default="minilm-l6", description="The encoder behind the TEI-compatible `/embed` and `/info`."
    )
    max_inputs_per_request: int = Field(default=1024, ge=1)
    max_json_body_bytes: int = Field(
        default=16 * 2**20, ge=1024, description="JSON/form bodies; uploads have their own cap"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API"
    )

    # Dataset uploads: refused with 413 past the cap (nothing partial is kept); archives are extracted
    # under caps counted on the bytes really written.
    upload_max_bytes: int = Field(default=2**30, ge=1, description="Largest dataset upload (bytes).")
    upload_max_extracted_bytes: int = Field(default=4 * 2**30, ge=1, description="ZIP/NPZ expanded size cap.")
    upload_max_files: int = Field(default=100_000, ge=1, description="Most entries in an image ZIP.")
    image_max_pixels: int = Field(default=40_000_000, ge=1, description="Largest image (pixels) in a ZIP.")
    dataset_max_categories: int = Field(default=1000, ge=2, description="Most categories in a text column.")

    # Embeddings: concurrent requests for one encoder are coalesced into batches (deepfeat/encoders).
    embed_max_batch: int = Field(default=32, ge=1, description="Inputs per forward pass, at most.")
    embed_max_wait_ms: float = Field(
        default=2.0, ge=0, description="How long a batch waits for more inputs once its first arrived."
    )
    embed_max_queue: int = Field(
        default=2048, ge=1, description="Inputs waiting per encoder before new requests get 429."
    )
    embed_bf16: bool = Field(
        default=False, description="Run encoders under bf16 autocast (about 2x on CPUs with AMX/AVX512-BF16)."
    )
    embed_engine: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description="auto: ONNX Runtime where its graph matches torch (cosine >= 0.9999), else torch.",
    )
    embed_precision: Literal["fp32", "auto", "bf16", "int8"] = Field(
        default="auto",
        description=(
            "auto: bf16 for batches of 8+ where it measured faster at load on bf16 hardware "
            "(AVX512-BF16/AMX, GPU) and keeps cosine >= 0.9999 to fp32, else fp32; fp32: exact (encoders.md)."
        ),
    )
    embed_max_batch_tokens: int | None = Field(
        default=8192, ge=1, description="Padded tokens per forward pass, at most (None: no bound)."
    )
    preload_encoders: str = Field(
        default="",
        description="Comma-separated catalogue encoders (or `<project id>/<name@version>`) loaded and "
        "compiled at start-up; /readyz answers 503 until they are.",
    )
    inference_device: Literal["cpu", "cuda", "auto"] = Field(
        default="cpu", description="Where the API runs encoders (auto: cuda when torch sees a GPU)."
    )
    api_read_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads per API process for reads (GET) and their database work (default: the "
        "CPU count on SQLite, 4x on a database server; see architecture.md).",
    )
    inference_threads: int | None = Field(
        default=None,
        ge=1,
        description="Torch threads of the API process (default: torch's own; see encoders.md).",
    )
    encoder_cache_bytes: int = Field(
        default=2 * 2**30, ge=1, description="Weights of registered encoders kept loaded in the API."
    )

    # Webhooks (issue 19): delivered by the workers, retried with exponential backoff (base x 4^n).
    # Loopback is refused by default (a webhook must not reach the server's own ports); link-local and
    # cloud metadata addresses are always refused. Private networks are allowed: self-hosted receivers
    # usually live there.
    webhook_allow_loopback: bool = Field(default=False, description="Let webhooks target 127.0.0.0/8, ::1.")
    webhook_allow_private: bool = Field(default=True, description="Let webhooks target private networks.")
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    webhook_backoff_s: float = Field(default=5.0, gt=0, description="Wait before the first retry.")
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_poll_s: float = Field(default=1.0, gt=0, description="How often a worker looks for deliveries.")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def preload(self) -> list[str]:
        return [ref.strip() for ref in self.preload_encoders.split(",") if ref.strip()]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'deepfeat.db'}"

    @property
    def resolved_api_read_threads(self) -> int:
        # SQLite answers in-process: threads past the cores only fight over the GIL (2 threads served
        # 1.4x what 40 did on 2 cores). A server database leaves a thread waiting on the network.
        cores = available_cores()
        if self.api_read_threads is not None:
            return self.api_read_threads
        return cores if self.resolved_database_url.startswith("sqlite") else 4 * cores

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.db'}"

    @property
    def resolved_rate_limit_storage_url(self) -> str:
        if self.rate_limit_storage_url:
            return self.rate_limit_storage_url
        broker = self.resolved_broker_url
        return broker if broker.startswith(("redis://", "rediss://")) else "memory://"

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.cache_dir or self.data_dir / "cache").expanduser().resolve()

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def signals_dir(self) -> Path:
        """Flag files a worker checks every step (cancel), cheaper than asking the database each step."""
        return self.data_dir / "signals"

    @property
    def checkpoints_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def admin_key_file(self) -> Path:
        return self.data_dir / "admin.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
