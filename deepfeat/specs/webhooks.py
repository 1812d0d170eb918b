"""Webhook endpoints and their delivery log, as submitted and answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field

from deepfeat.specs.base import ResponseModel, SpecModel

WebhookEvent = Literal[
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.pruned",
    "sweep.completed",
    "encoder.alias_moved",
]


class WebhookCreate(SpecModel):
    url: AnyHttpUrl = Field(description="http(s) URL; refused if the deployment's allow-list forbids it")
    events: list[WebhookEvent] = Field(min_length=1, max_length=16)


class WebhookOut(ResponseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the `whsec_...` signing secret; shown only now")


class DeliveryOut(ResponseModel):
    id: str = Field(description="the `webhook-id` header of every attempt")
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
