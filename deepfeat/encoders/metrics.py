"""Prometheus instruments of the embedding path, recorded where the work happens (TEI's set: queue
depth, batch size, tokens per batch, inference and tokenisation time).

They are process-wide and created unregistered; the gateway registers them into its `/metrics`
registry (service/observability.py), so `deepfeat/` needs no web framework to record them.
"""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

_SECONDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

BATCH_SIZE = Histogram(
    "deepfeat_embedding_batch_size",
    "Inputs per forward pass of an encoder (observed by the embedding batcher).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=None,
)
BATCH_TOKENS = Histogram(
    "deepfeat_embedding_batch_tokens",
    "Tokens per forward pass as run (padded to the batch's longest input; 1 per non-text input).",
    buckets=(1, 16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768),
    registry=None,
)
QUEUE_DEPTH = Gauge(
    "deepfeat_embedding_queue_depth",
    "Inputs waiting for a forward pass, per encoder.",
    ["encoder"],
    registry=None,
)
INFERENCE_SECONDS = Histogram(
    "deepfeat_embedding_inference_duration_seconds",
    "Time of one forward pass (pooling included), by engine and precision.",
    ["engine", "precision"],
    buckets=_SECONDS,
    registry=None,
)
TOKENIZATION_SECONDS = Histogram(
    "deepfeat_embedding_tokenization_duration_seconds",
    "Time to validate and tokenise (or decode) one request's inputs.",
    buckets=_SECONDS,
    registry=None,
)
QUEUE_SECONDS = Histogram(
    "deepfeat_embedding_queue_duration_seconds",
    "Time a request waited in the batcher before its forward pass started.",
    buckets=_SECONDS,
    registry=None,
)

ALL = (BATCH_SIZE, BATCH_TOKENS, QUEUE_DEPTH, INFERENCE_SECONDS, TOKENIZATION_SECONDS, QUEUE_SECONDS)
