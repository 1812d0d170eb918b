"""Send one signed delivery (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`
over `id.timestamp.body`, HMAC-SHA256 with the endpoint's `whsec_` secret)."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook as Signer

from deepfeat.config import Settings
from deepfeat.webhooks.policy import AddressRefused, check_url


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool  # worth trying again (network error, 5xx, 429)
    status_code: int | None
    error: str | None


def send(url: str, secret: str, msg_id: str, payload: dict[str, Any], settings: Settings) -> Outcome:
    """POST the payload once; never raises."""
    try:
        check_url(url, settings)
    except AddressRefused as exc:
        return Outcome(False, False, None, f"refused by the allow-list: {exc}")
    body = json.dumps(payload, separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "deepfeat-webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(secret).sign(msg_id, now, body),
    }
    try:
        # No redirects: a 3xx could point anywhere, past the allow-list.
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.webhook_timeout_s, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        return Outcome(False, True, None, f"{type(exc).__name__}: {exc}")
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, False, code, None)
    retry = code >= 500 or code in (408, 409, 425, 429)
    return Outcome(False, retry, code, f"HTTP {code}: {response.text[:200]}")
