"""/v1/webhooks: endpoints of the project told about runs ending, sweeps completing, aliases moving."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from deepfeat.specs.webhooks import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut
from service.deps import Admin, State, WebhookServiceDep
from service.routing import OneHopRoute

router = APIRouter(route_class=OneHopRoute, prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, _: Admin, service: WebhookServiceDep, state: State) -> WebhookCreated:
    """Subscribe a URL to events. The answer holds the signing `secret` (Standard Webhooks); it is not
    shown again. A URL the allow-list refuses (link-local, metadata, loopback by default) is a 422."""
    webhook = service.create(body, state.settings)
    return WebhookCreated.model_validate(webhook)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(_: Admin, service: WebhookServiceDep) -> list[WebhookOut]:
    return [WebhookOut.model_validate(w) for w in service.list()]


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, _: Admin, service: WebhookServiceDep) -> Response:
    service.delete(webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    webhook_id: str, _: Admin, service: WebhookServiceDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[DeliveryOut]:
    """The delivery log, newest first: each event's attempts, last HTTP status and error."""
    rows = service.deliveries(webhook_id, limit)
    return [DeliveryOut.model_validate(d) for d in rows]
