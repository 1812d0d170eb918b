// The run page: draw the curves, then follow the run's event stream (SSE) until it ends.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("run-data").textContent);
  const metrics = data.metrics; // {key: [[epoch, value], ...]}
  const LOSS = ["loss", "val_loss"], SYSTEM = ["lr", "epoch_time", "samples_per_s"];
  // Norms and ratios span decades (one early spike would flatten the rest): log axes. Fractions stay linear.
  const LOG_PANELS = ["grad_norm/", "update_ratio/", "weight_norm/"];
  const HEALTH = { "grad_norm/": "Gradient norm per layer", "update_ratio/": "Update / weight ratio per layer",
    "weight_norm/": "Weight norm per layer", "dead_relu/": "Dead-unit fraction per layer",
    "saturated/": "Saturated-unit fraction per layer" };

  function seriesFor(keys) {
    return keys.filter((k) => metrics[k]).map((k) => ({ name: k, points: metrics[k], dashed: k.startsWith("val_") }));
  }

  function drawHealth() {
    const box = document.getElementById("health");
    const keys = Object.keys(metrics).sort();
    const panels = Object.entries(HEALTH).map(([prefix, title]) => ({ prefix, title,
      keys: keys.filter((k) => k.startsWith(prefix)) })).filter((p) => p.keys.length);
    if (!panels.length) return; // the server's "no diagnostics recorded" stays
    box.replaceChildren();
    for (const panel of panels) {
      const fig = document.createElement("figure");
      fig.className = "chart";
      const cap = document.createElement("figcaption");
      cap.textContent = panel.title;
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("data-health", panel.prefix);
      fig.append(cap, svg);
      box.appendChild(fig);
      DFChart.draw(svg, panel.keys.map((k) => ({ name: k, label: k.slice(panel.prefix.length), points: metrics[k] })),
        { log: LOG_PANELS.includes(panel.prefix) });
    }
  }

  // A GAN's sample quality, with the kept epoch: the receipt's once the run ends, until then the best so far.
  function drawGanQuality() {
    const svg = document.getElementById("chart-gan-quality");
    const mmd = metrics.val_mmd;
    if (!svg || !mmd || !mmd.length) return;
    const best = data.best_epoch || mmd.reduce((a, b) => (b[1] < a[1] ? b : a))[0];
    const kept = mmd.filter((p) => p[0] === best);
    const series = seriesFor(["val_mmd", "val_w1"]).map((s) => ({ ...s, dashed: false }));
    series.push({ name: "kept", label: `kept: epoch ${best}`, points: kept, color: "#111827" });
    DFChart.draw(svg, series);
    svg.querySelectorAll('circle[data-key="kept"]').forEach((dot) => dot.setAttribute("r", 7));
    const note = document.querySelector('[data-role="chosen-epoch"]');
    const value = kept.length ? kept[0][1].toPrecision(3) : "?";
    note.textContent = `${data.best_epoch ? "Kept" : "Best so far"}: the generator of epoch ${best} (val_mmd ${value})`;
    note.dataset.epoch = String(best);
  }

  // An empty chart waits for the first epoch only while none has arrived: after that (an autoencoder has
  // no quality metrics, a GAN no `loss`) it says so instead of waiting forever.
  function emptyText() {
    if (Object.keys(metrics).length) return { empty: "none of these for this kind of run" };
    return data.terminal ? { empty: "no epoch was recorded" } : {};
  }

  function drawAll() {
    const keys = Object.keys(metrics);
    const quality = keys.filter((k) => !LOSS.includes(k) && !SYSTEM.includes(k) && !k.includes("/")).sort();
    const loss = seriesFor(LOSS).length ? LOSS : ["d_loss", "g_loss"]; // a GAN's two losses
    DFChart.draw(document.getElementById("chart-loss"), seriesFor(loss), emptyText());
    DFChart.draw(document.getElementById("chart-metrics"), seriesFor(quality.filter((k) => !loss.includes(k))), emptyText());
    DFChart.draw(document.getElementById("chart-lr"), seriesFor(["lr"]), emptyText());
    drawHealth();
    drawGanQuality();
  }

  function addPoint(epoch, values) {
    for (const [key, value] of Object.entries(values)) {
      const points = (metrics[key] = metrics[key] || []);
      const at = points.findIndex((p) => p[0] === epoch); // a resumed attempt redoes an epoch: replace it
      if (at >= 0) points[at] = [epoch, value]; else points.push([epoch, value]);
      points.sort((a, b) => a[0] - b[0]);
    }
  }

  function logEvent(event) {
    const list = document.getElementById("events");
    if (list.querySelector(`[data-event-id="${event.id}"]`)) return;
    const li = document.createElement("li");
    li.className = `event event-${event.kind} level-${event.level}`;
    li.dataset.eventId = event.id;
    const time = document.createElement("time");
    time.textContent = new Date(event.created_at).toISOString().slice(11, 19);
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = event.kind;
    li.append(time, " ", kind, " " + event.message);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.appendChild(li);
    if (atBottom) list.scrollTop = list.scrollHeight; // follow the log unless the reader scrolled up
  }

  let pending = null;
  function refreshSoon() { // coalesce bursts of updates into one re-render of the page's live regions
    if (pending) return;
    pending = setTimeout(async () => { pending = null; try { await DF.refreshRegions("[data-swap]"); } catch (e) {} }, 150);
  }

  drawAll();
  const log = document.getElementById("events");
  log.scrollTop = log.scrollHeight;
  if (data.terminal || !window.EventSource) return;
  const url = `/runs/${encodeURIComponent(data.run_id)}/events` + (data.last_event_id ? `?after=${data.last_event_id}` : "");
  const source = new EventSource(url);
  const onEvent = (e) => {
    const event = JSON.parse(e.data);
    logEvent(event);
    if (event.kind === "epoch" && event.data && event.data.metrics) {
      addPoint(event.data.epoch, event.data.metrics);
      drawAll();
    }
  };
  for (const kind of ["status", "epoch", "warning", "error", "checkpoint", "diagnostic", "message"]) source.addEventListener(kind, onEvent);
  source.addEventListener("run", refreshSoon);
  source.addEventListener("end", () => {
    source.close();
    data.terminal = true;
    drawAll();
    refreshSoon();
    document.body.dataset.streamEnded = "1";
  });
})();
