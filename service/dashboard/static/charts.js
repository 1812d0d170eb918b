// Small hand-written SVG line charts: one x axis (epoch), one y axis, a legend, a dot per point.
// No library: the dashboard serves every asset itself and this is all the charts need.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 260, M = { top: 28, right: 16, bottom: 34, left: 58 };
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f",
    "#7c3aed", "#b45309", "#0f766e", "#475569"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceTicks(lo, hi, count) {
    if (!isFinite(lo) || !isFinite(hi)) return [];
    if (lo === hi) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
    const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
    if (ticks[ticks.length - 1] < hi) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
    return ticks;
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
    return +v.toPrecision(3) + "";
  }

  // Powers of ten between lo and hi (exponents), for a log axis.
  function logTicks(lo, hi) {
    const ticks = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e += 1) ticks.push(e);
    return ticks.length > 1 ? ticks : [ticks[0] - 1, ticks[0] + 1];
  }

  // series: [{name, points: [[x, y], ...], color?, dashed?, line?}]; opts: {xLabel?, xFormat?, empty?,
  // log?}; opts.log: a log10 y axis (positive values only), so one early spike does not flatten every
  // other curve.
  function draw(svg, series, opts) {
    opts = opts || {};
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("data-scale", opts.log ? "log" : "linear");
    svg.replaceChildren();
    if (opts.log) {
      series = series.map((s) => ({ ...s, points: s.points.filter((p) => p[1] > 0).map((p) => [p[0], Math.log10(p[1]), p[1]]) }));
    }
    const all = series.flatMap((s) => s.points).filter((p) => isFinite(p[1]));
    if (!all.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" },
        opts.empty || "waiting for the first epoch…"));
      return;
    }
    // Legend first: it wraps onto as many rows as it needs, and the plot starts below it.
    const legend = [];
    let lx = M.left, rows = 1;
    series.forEach((s) => {
      const label = s.label || s.name, width = 28 + label.length * 6.5;
      if (lx + width > W - M.right && lx > M.left) { lx = M.left; rows += 1; }
      legend.push({ x: lx, y: 10 + (rows - 1) * 15, label });
      lx += width;
    });
    const top = M.top + (rows - 1) * 15;
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const xMax = Math.max(1, ...xs), xMin = Math.min(...xs, xMax === 1 ? 0 : 1);
    const yTicks = opts.log ? logTicks(Math.min(...ys), Math.max(...ys)) : niceTicks(Math.min(...ys), Math.max(...ys), 5);
    const yLo = yTicks[0], yHi = yTicks[yTicks.length - 1];
    const sx = (x) => M.left + ((x - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right);
    const sy = (y) => H - M.bottom - ((y - yLo) / (yHi - yLo || 1)) * (H - top - M.bottom);

    const grid = el("g", { class: "grid" });
    for (const t of yTicks) {
      grid.appendChild(el("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t) }));
      grid.appendChild(el("text", { x: M.left - 6, y: sy(t) + 4, "text-anchor": "end", class: "tick" },
        opts.log ? fmt(Math.pow(10, t)) : fmt(t)));
    }
    const xStep = Math.max(1, Math.ceil((xMax - xMin) / 10));
    for (let x = Math.ceil(xMin); x <= xMax; x += xStep) {
      grid.appendChild(el("line", { x1: sx(x), x2: sx(x), y1: H - M.bottom, y2: H - M.bottom + 4 }));
      grid.appendChild(el("text", { x: sx(x), y: H - M.bottom + 16, "text-anchor": "middle" },
        opts.xFormat ? opts.xFormat(x) : x));
    }
    grid.appendChild(el("text", { x: W - M.right, y: H - 4, "text-anchor": "end", class: "axis-label" },
      opts.xLabel || "epoch"));
    svg.appendChild(grid);

    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const pts = s.points.filter((p) => isFinite(p[1]));
      const g = el("g", { class: "series", "data-key": s.name });
      if (pts.length > 1 && s.line !== false) {  // line: false draws dots only (a scatter)
        g.appendChild(el("polyline", {
          points: pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "),
          fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": s.dashed ? "6 4" : "",
        }));
      }
      for (const p of pts) {
        const dot = el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: color, class: "pt", "data-key": s.name });
        const at = opts.xFormat ? opts.xFormat(p[0]) : p[0];
        dot.appendChild(el("title", {}, `${s.name} · ${opts.xLabel || "epoch"} ${at}: ${fmt(opts.log ? p[2] : p[1])}`));
        g.appendChild(dot);
      }
      svg.appendChild(g);
      const at = legend[i];
      svg.appendChild(el("line", { x1: at.x, x2: at.x + 14, y1: at.y, y2: at.y, stroke: color, "stroke-width": 2.5,
        "stroke-dasharray": s.dashed ? "4 2" : "" }));
      svg.appendChild(el("text", { x: at.x + 16, y: at.y + 4, class: "legend" }, at.label));
    });
  }

  window.DFChart = { draw, PALETTE };
})();
