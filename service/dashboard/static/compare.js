// The compare page: overlay one metric of each chosen run.
"use strict";
(function () {
  const node = document.getElementById("compare-data");
  if (!node) return;
  const data = JSON.parse(node.textContent);
  DFChart.draw(document.getElementById("chart-compare"),
    data.runs.map((r) => ({ name: r.id, label: `${r.name} · ${r.id.slice(-6)}`, points: r.metrics[data.key] || [] })),
    { empty: `no ${data.key} recorded for these runs` });
})();
