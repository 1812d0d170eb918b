"""The dashboard in a real browser (Debian's chromium through Playwright) against a real API and worker."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from deepfeat.devstack import DevStack
from deepfeat.services.auth import create_key, ensure_project
from tests.helpers.dashboard import api, browser, live, page, screenshot  # noqa: F401 - the fixtures
from tests.helpers.specs import SPEC
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.e2e

EPOCHS = 6


def submit(api: httpx.Client, **training: Any) -> str:  # noqa: F811
    spec = {**SPEC, "training": {**SPEC["training"], **training}}
    response = api.post("/v1/runs", json=spec)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def expect_badge(page: Page, api: httpx.Client, run_id: str, status: str, timeout_ms: float) -> None:  # noqa: F811
    """The run page's badge reaches `status`; if not, say what the API and the page's log said."""
    try:
        expect(page.locator(".summary .badge")).to_have_text(status, timeout=timeout_ms)
    except AssertionError as exc:
        shown = api.get(f"/v1/runs/{run_id}")
        log = page.locator("#events").inner_text()
        raise AssertionError(f"{exc}\nAPI says {shown.status_code} {shown.text}\npage log:\n{log}") from None


def wait_until_running(api: httpx.Client, run_id: str, timeout_s: float = 60) -> None:  # noqa: F811
    deadline = time.monotonic() + timeout_s
    while api.get(f"/v1/runs/{run_id}").json()["status"] != "running":
        assert time.monotonic() < deadline, f"{run_id} did not start"
        time.sleep(0.2)


def test_the_run_page_follows_a_run_from_queued_to_succeeded(
    page: Page,  # noqa: F811
    api: httpx.Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    blocker = submit(api, epochs=500)  # keeps the one worker busy, so ours surely starts out queued
    wait_until_running(api, blocker)
    run_id = submit(api, epochs=EPOCHS)
    page.goto(f"/runs/{run_id}")
    status = page.locator(".summary .badge")
    expect(status).to_have_text("queued")
    expect(page.locator(".summary")).to_contain_text("#1 in queue")
    page.evaluate("window.notReloaded = true")
    assert api.post(f"/v1/runs/{blocker}/cancel").status_code == 200

    expect_badge(page, api, run_id, "succeeded", 120_000)  # (running lasts about a second)
    expect(page.locator("#chart-loss circle[data-key='loss']")).to_have_count(EPOCHS)
    expect(page.locator("#chart-loss circle[data-key='val_loss']")).to_have_count(EPOCHS)
    expect(page.locator("#chart-metrics circle[data-key='val_accuracy']")).to_have_count(EPOCHS)
    assert page.evaluate("window.notReloaded") is True  # it updated by itself, without a reload
    log = page.locator("#events li")
    expect(log.first).to_contain_text("queued")
    expect(log.nth(1)).to_contain_text("running")
    expect(page.locator("#events li.event-epoch")).to_have_count(EPOCHS)
    expect(log.last).to_contain_text("succeeded")
    expect(page.locator("[data-swap=artifacts] a", has_text="model.safetensors")).to_be_visible()
    expect(page.locator("#cancel")).to_have_count(0)
    for prefix in ("grad_norm/", "dead_relu/"):  # diagnostics are on by default: one dot per layer and epoch
        panel = page.locator(f"#health svg[data-health='{prefix}']")
        layers = panel.locator("g.series").count()
        assert layers >= 2, prefix
        expect(panel.locator("circle")).to_have_count(layers * EPOCHS)
    # norms span decades: a log axis, its ticks powers of ten; fractions stay linear
    grad = page.locator("#health svg[data-health='grad_norm/']")
    expect(grad).to_have_attribute("data-scale", "log")
    ticks = grad.locator("text.tick").all_text_contents()  # SVG text has no innerText
    assert len(ticks) >= 2
    assert all(re.fullmatch(r"1e[+-]\d+|1|10|100|0\.1|0\.01", t) for t in ticks), ticks
    expect(page.locator("#health svg[data-health='dead_relu/']")).to_have_attribute("data-scale", "linear")
    assert "epoch 6/6" in page.locator(".summary").inner_text()
    download = page.request.get(f"/runs/{run_id}/artifacts/receipt.json")
    assert download.json()["run_id"] == run_id
    screenshot(page, tmp_path, "run-page")


def test_a_run_is_cancelled_from_its_page(page: Page, api: httpx.Client, tmp_path: Path) -> None:  # noqa: F811
    run_id = submit(api, epochs=400)
    page.goto(f"/runs/{run_id}")
    expect_badge(page, api, run_id, "running", 60_000)
    expect(page.locator("#chart-loss circle[data-key='loss']").first).to_be_attached(timeout=60_000)
    page.click("#cancel")
    expect_badge(page, api, run_id, "cancelled", 60_000)
    expect(page.locator("#events li").last).to_contain_text("cancelled")
    assert api.get(f"/v1/runs/{run_id}").json()["status"] == "cancelled"

    # The list, live: one run training, one waiting behind it (one worker), both updating by themselves.
    page.goto("/")
    training, queued = submit(api, epochs=300), submit(api, epochs=2)
    expect(page.locator(f"tr[data-run-id='{run_id}'] .badge")).to_have_text("cancelled")
    expect(page.locator(f"tr[data-run-id='{training}'] .badge")).to_have_text("running", timeout=60_000)
    expect(page.locator(f"tr[data-run-id='{queued}']")).to_contain_text("#1 in queue")
    expect(page.locator(f"tr[data-run-id='{training}'] .progress-text")).to_contain_text(
        "ETA", timeout=30_000
    )
    screenshot(page, tmp_path, "runs-list")
    page.goto("/workers")  # the worker is seen through its lease on the training run
    expect(page.locator(f"a[href='/runs/{training}']")).to_be_visible()
    expect(page.locator("[data-queue=cpu]")).to_have_text("1")
    screenshot(page, tmp_path, "workers")
    assert api.post(f"/v1/runs/{training}/cancel").status_code == 200
    page.goto("/")
    expect(page.locator(f"tr[data-run-id='{queued}'] .badge")).to_have_text("succeeded", timeout=120_000)
    expect(page.locator(f"tr[data-run-id='{training}'] .badge")).to_have_text("cancelled")
    page.goto("/?status=cancelled")
    expect(page.locator("tbody tr")).to_have_count(3)  # the blocker of the first test, and two here
    page.goto(f"/compare?run={run_id}&run={training}&key=val_loss")
    expect(page.locator("#chart-compare g.series")).to_have_count(2)
    screenshot(page, tmp_path, "compare")


def test_a_run_of_another_project_is_not_reachable(page: Page, live: DevStack) -> None:  # noqa: F811
    from deepfeat.db.session import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{live.data_dir / 'deepfeat.db'}")
    with make_session_factory(engine)() as session:
        other_key = create_key(session, ensure_project(session, "someone-else"), "write")
        session.commit()
    engine.dispose()
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {other_key}"}) as other:
        theirs = other.post("/v1/runs", json={**SPEC, "training": {"epochs": 1}}).json()["id"]
    response = page.goto(f"/runs/{theirs}")
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    page.goto("/")
    expect(page.locator(f"tr[data-run-id='{theirs}']")).to_have_count(0)
    assert page.request.get(f"/runs/{theirs}/artifacts/receipt.json").status == 404


def test_metrics_count_the_runs_and_the_requests(live: DevStack, api: httpx.Client) -> None:  # noqa: F811
    run_id = submit(api, epochs=1)
    wait_for(api, run_id)
    with api.stream("GET", f"/v1/runs/{run_id}/events", headers={"Accept": "text/event-stream"}) as stream:
        names = [line.removeprefix("event: ") for line in stream.iter_lines() if line.startswith("event:")]
    assert names[0] == "status"
    assert names.count("epoch") == 1
    assert names[-1] == "end"
    deadline = time.monotonic() + 30
    while True:
        families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{live.url}/metrics").text)}
        runs = {s.labels["status"]: s.value for s in families["deepfeat_runs"].samples}
        if runs["queued"] == runs["running"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert runs["succeeded"] >= 1
    latency = families["deepfeat_http_request_duration_seconds"].samples
    counted = {(s.labels["method"], s.labels["route"]) for s in latency if s.name.endswith("_count")}
    assert ("POST", "/v1/runs") in counted
    assert ("GET", "/v1/runs/{run_id}") in counted
    assert {s.labels["queue"] for s in families["deepfeat_queue_depth"].samples} >= {"cpu"}
    api_log = live.log("api")
    assert '"route": "/v1/runs"' in api_log  # the gateway logs JSON lines with the route template
    # One run, followed through both processes by its id.
    gateway = [json.loads(line) for line in api_log.splitlines() if run_id in line and line.startswith("{")]
    assert any(line.get("run_id") == run_id and line.get("request_id") for line in gateway)
    worker = [json.loads(line) for line in live.log("worker").splitlines() if line.startswith("{")]
    assert any(line.get("run_id") == run_id and line["logger"] == "workers.runner" for line in worker)


AE_EPOCHS = 4
AUTOENCODER = {
    "name": "digits-ae",
    "dataset": "builtin:digits",
    "task": "autoencoder",
    "model": {"type": "autoencoder", "hidden": [32], "latent_dim": 8},
    "training": {
        "epochs": AE_EPOCHS,
        "batch_size": 64,
        "optimizer": {"name": "adam", "lr": 0.003},
        "seed": 0,
    },
}


def test_the_workers_page_lists_the_running_worker_with_its_device(
    page: Page,  # noqa: F811
    api: httpx.Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    workers = api.get("/v1/workers").json()["data"]
    assert len(workers) == 1, workers  # the stack's one worker, from its heartbeat
    worker = workers[0]
    assert (worker["device"], worker["queues"]) == ("cpu", ["cpu"])
    page.goto("/workers")
    row = page.locator(f"tr[data-worker='{worker['id']}']")
    expect(row.locator("[data-role=device]")).to_contain_text(worker["device_name"])
    expect(row).to_contain_text("cpu")
    expect(page.locator("[data-serving=cpu]")).to_have_text("1")
    # Busy while it trains, with the run named (it is ours); idle again afterwards.
    run_id = submit(api, epochs=300)
    wait_until_running(api, run_id)
    page.reload()
    expect(row).to_have_attribute("data-state", "busy")
    expect(row.locator(f"a[href='/runs/{run_id}']")).to_be_visible()
    screenshot(page, tmp_path, "workers-heartbeat")
    assert api.post(f"/v1/runs/{run_id}/cancel").status_code == 200
    wait_for(api, run_id)
    page.reload()
    expect(row).to_have_attribute("data-state", "idle")


def test_an_autoencoder_run_shows_reconstructions_and_the_anomaly_histogram(
    page: Page,  # noqa: F811
    api: httpx.Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    response = api.post("/v1/runs", json=AUTOENCODER)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    page.goto(f"/runs/{run_id}")
    expect_badge(page, api, run_id, "succeeded", 120_000)  # the panel arrives with the run's last update
    image = page.locator("img#reconstructions")
    expect(image).to_be_visible()
    # Polled from here: the page's CSP (no eval) forbids wait_for_function's in-page polling.
    deadline = time.monotonic() + 10
    while not page.evaluate("document.querySelector('img#reconstructions').naturalWidth"):
        assert time.monotonic() < deadline, "the reconstructions image never decoded"
        time.sleep(0.1)
    width, height = page.evaluate(
        "[document.querySelector('img#reconstructions').naturalWidth, "
        "document.querySelector('img#reconstructions').naturalHeight]"
    )
    assert width > 3 * height  # 8 samples wide, two rows high (input over reconstruction)
    histogram = page.locator("#anomaly-histogram svg.histogram")
    expect(histogram.locator("rect.bar")).to_have_count(30)
    line = histogram.locator("g.threshold line")  # a vertical line (zero-width box): check its place
    expect(line).to_be_attached()
    x = float(line.get_attribute("x1") or 0)
    assert 300 < x < 640  # the range stops at twice the threshold: the line sits right of the middle
    anomaly = api.get(f"/v1/runs/{run_id}/artifacts/anomaly.json").json()
    expect(histogram.locator("g.threshold")).to_have_attribute("data-threshold", str(anomaly["threshold"]))
    expect(page.locator("#anomaly-histogram [data-role=threshold]")).to_be_visible()
    # The header can run ahead of the event log by one poll of the stream; once the stream has ended,
    # the curves hold every epoch.
    expect(page.locator("body[data-stream-ended='1']")).to_be_attached()
    expect(page.locator("#chart-loss circle[data-key='val_loss']")).to_have_count(AE_EPOCHS)
    # an autoencoder has no quality metrics: the card says so rather than wait for an epoch forever
    expect(page.locator("#chart-metrics")).to_contain_text("none of these for this kind of run")
    page.reload()  # and so does a fresh page of the finished run
    expect(page.locator("#chart-metrics")).to_contain_text("none of these for this kind of run")
    page.locator("#autoencoder").scroll_into_view_if_needed()
    screenshot(page, tmp_path, "autoencoder-run")

    # Registered as an encoder, with an alias: the encoders page shows the version and both aliases.
    registered = api.post("/v1/encoders", json={"run_id": run_id, "name": "digits-ae"})
    assert registered.status_code == 201, registered.text
    version = registered.json()["version"]
    assert (
        api.post("/v1/encoders/digits-ae/aliases", json={"alias": "prod", "version": version}).status_code
        == 200
    )
    page.goto("/encoders")
    row = page.locator(f"#registered tr[data-encoder='digits-ae@{version}']")
    expect(row).to_contain_text(f"@{version}")
    expect(row.locator("[data-alias=prod]")).to_have_text("digits-ae@prod")
    expect(row.locator("[data-alias=latest]")).to_have_text("digits-ae@latest")
    expect(page.locator("#pretrained tr[data-encoder='minilm-l6']")).to_be_visible()
    screenshot(page, tmp_path, "encoders")


def test_the_datasets_page_previews_rows(page: Page, api: httpx.Client, tmp_path: Path) -> None:  # noqa: F811
    digits = api.post("/v1/datasets", json={"builtin": "digits"}).json()["id"]
    page.goto("/datasets")
    page.click(f"a[href='/datasets/{digits}'][data-role=preview-link]")
    expect(page).to_have_url(re.compile(f"/datasets/{digits}$"))
    rows = page.locator("#preview tbody tr")
    expect(rows).to_have_count(10)
    thumbs = page.locator("#preview img.thumb")
    expect(thumbs).to_have_count(10)
    assert page.evaluate(
        "[...document.querySelectorAll('#preview img.thumb')].every(i => i.naturalWidth === 8)"
    )
    expect(rows.first.locator("td").last).to_have_text("0")  # digit 0 is the first row's target
    schema = page.locator("#full-schema")
    expect(schema.locator("summary [data-role=toggle]")).to_be_visible()  # a visible control
    expect(schema.locator("pre")).to_be_hidden()
    schema.locator("summary").click()
    expect(schema.locator("pre")).to_contain_text('"input_shape"')
    screenshot(page, tmp_path, "dataset-preview")
