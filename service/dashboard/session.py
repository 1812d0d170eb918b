"""Dashboard sign-in: an API key is exchanged for a signed session cookie; forms carry a CSRF token.

The cookie holds only `{key id, project id, session nonce}` signed with a server secret (never the key
itself), is HttpOnly and SameSite=Strict, and expires after `MAX_AGE_S`. Each request re-reads the key,
so revoking it signs the browser out. The CSRF token is an HMAC of the session nonce: a form posted from
elsewhere cannot know it. Sign-in itself is protected the same way with a nonce in a short-lived cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from deepfeat.db.repositories.projects import ProjectRepository
from deepfeat.services.auth import Principal

SESSION_COOKIE = "deepfeat_session"
SIGNIN_COOKIE = "deepfeat_signin"
MAX_AGE_S = 12 * 3600


@dataclass(frozen=True)
class Viewer:
    """A signed-in browser: the key's principal plus the CSRF token for its forms."""

    principal: Principal
    csrf: str

    @property
    def project_id(self) -> str:
        return self.principal.project_id


class Sessions:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.serializer = URLSafeTimedSerializer(
            secret, salt="deepfeat.dashboard.session", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def _token(self, purpose: str, nonce: str) -> str:
        return hmac.new(self.secret, f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    # Sign-in (login CSRF): the form's token must match the nonce in this browser's cookie.
    def start_signin(self, render: Callable[[str], Response], secure: bool) -> Response:
        """`render(token)` the sign-in form, bound to a fresh nonce cookie on this browser."""
        nonce = secrets.token_urlsafe(16)
        response = render(self._token("signin", nonce))
        _set_cookie(response, SIGNIN_COOKIE, nonce, 600, secure)
        return response

    def signin_ok(self, request: Request, token: str) -> bool:
        nonce = request.cookies.get(SIGNIN_COOKIE)
        return bool(nonce) and hmac.compare_digest(self._token("signin", nonce or ""), token)

    def sign_in(self, response: Response, principal: Principal, secure: bool) -> None:
        value = self.serializer.dumps(
            {"k": principal.key_id, "p": principal.project_id, "n": secrets.token_urlsafe(16)}
        )
        _set_cookie(response, SESSION_COOKIE, value, MAX_AGE_S, secure)
        response.delete_cookie(SIGNIN_COOKIE, path="/")

    @staticmethod
    def sign_out(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    def viewer(self, request: Request, session: Session) -> Viewer | None:
        """The signed-in viewer, or None (no cookie, bad signature, expired, key revoked)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data: Any = self.serializer.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("k"), str)
            or not isinstance(data.get("p"), str)
        ):
            return None
        key = ProjectRepository(session).key(data["p"], data["k"])
        if key is None or key.revoked_at is not None:
            return None
        principal = Principal(project_id=key.project_id, key_id=key.id, scope=key.scope)
        return Viewer(principal, self._token("csrf", str(data.get("n", ""))))


def _set_cookie(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )
