"""Webhooks end to end: a real HTTP receiver on loopback gets deliveries from the worker, signed as
Standard Webhooks says (verified with the `standardwebhooks` reference library), retried after it
answers 500 once; the delivery log shows it. The allow-list refuses metadata and link-local URLs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from deepfeat.devstack import DevStack
from tests.helpers.env import ADMIN_KEY

pytestmark = pytest.mark.e2e
ENV = {
    "DEEPFEAT_WEBHOOK_ALLOW_LOOPBACK": "true",
    "DEEPFEAT_WEBHOOK_BACKOFF_S": "0.5",
    "DEEPFEAT_WEBHOOK_POLL_S": "0.2",
}
RUN = {
    "dataset": "builtin:digits",
    "task": "classification",
    "model": {"type": "mlp", "hidden": [16]},
    "training": {"epochs": 1},
}


class Receiver(ThreadingHTTPServer):
    """Answers 500 to the first request, then 204; keeps every request's headers and body."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[dict[str, str], str, int]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        code = 500 if not self.server.received else 204
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
        self.send_response(code)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        DevStack(tmp_path_factory.mktemp("webhooks") / "var", ADMIN_KEY, extra_env=ENV) as stack,
        httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c,
    ):
        yield c


def test_signed_delivery_retried_after_a_500(api: httpx.Client, receiver: Receiver) -> None:
    created = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["run.succeeded"]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in api.get("/v1/webhooks").json()[0]
    run_id = api.post("/v1/runs", json=RUN).json()["id"]
    deadline = time.monotonic() + 120
    while len(receiver.received) < 2:
        assert time.monotonic() < deadline, receiver.received
        time.sleep(0.2)
    (first, body, code1), (second, body2, code2) = receiver.received[:2]
    assert (code1, code2) == (500, 204)
    assert body == body2
    assert first["webhook-id"] == second["webhook-id"]  # one message, two attempts
    verifier = Webhook(hook["secret"])
    for headers, sent, _ in receiver.received[:2]:
        payload = verifier.verify(sent, headers)  # raises unless the signature and timestamp check out
        assert payload["type"] == "run.succeeded"
        assert payload["data"]["run_id"] == run_id
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(body, first)
    assert json.loads(body)["data"]["status"] == "succeeded"
    while True:
        log = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
        if log and log[0]["status"] == "delivered":
            break
        assert time.monotonic() < deadline, log
        time.sleep(0.2)
    assert log[0]["attempts"] == 2
    assert log[0]["last_status_code"] == 204
    assert log[0]["id"] == first["webhook-id"]
    assert len(log) == 1
    assert api.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert api.get("/v1/webhooks").json() == []


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("ftp://example.com/", "url"),
    ],
)
def test_the_allow_list_refuses_metadata_and_link_local(api: httpx.Client, url: str, words: str) -> None:
    response = api.post("/v1/webhooks", json={"url": url, "events": ["run.failed"]})
    assert response.status_code == 422, response.text
    assert words in response.text.lower()
    assert response.json()["loc"].startswith("/url")
