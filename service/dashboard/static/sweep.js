// The sweep page: each parameter against the metric, one dot per trial (a colour per status).
"use strict";
(function () {
  const node = document.getElementById("sweep-data");
  if (!node) return;
  const data = JSON.parse(node.textContent);
  const COLORS = { succeeded: "#16a34a", pruned: "#ea580c", failed: "#dc2626", cancelled: "#64748b", running: "#2563eb" };
  data.plots.forEach((plot, i) => {
    const xFormat = plot.choices.length ? (x) => plot.choices[x] ?? "" : plot.log ? (x) => `1e${x}` : (x) => x;
    DFChart.draw(document.getElementById(`plot-${i}`),
      Object.entries(plot.series).map(([status, points]) => ({ name: status, points, color: COLORS[status], line: false })),
      { xLabel: plot.log ? `${plot.name} (log10)` : plot.name, xFormat, empty: `no ${data.metric} yet` });
  });
})();
