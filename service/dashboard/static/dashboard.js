// Shared page behaviour: refresh marked regions of the page from a fresh render of the same URL.
// Lists work without JavaScript; with it they update by themselves.
"use strict";
(function () {
  async function refreshRegions(selector) {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return false;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const region of document.querySelectorAll(selector)) {
      const name = region.getAttribute(selector.slice(1, -1));
      const next = fresh.querySelector(`[${selector.slice(1, -1)}="${name}"]`);
      if (next) region.innerHTML = next.innerHTML;
    }
    return true;
  }
  window.DF = { refreshRegions };

  // The runs list: re-render every 2 s while something may still change, every 6 s otherwise (a new
  // submission appears), and not at all while the tab is hidden.
  const runs = document.querySelector('[data-live-region="runs"]');
  if (runs) {
    const tick = async () => {
      const live = runs.querySelector('tr[data-status="queued"], tr[data-status="running"], tr[data-status="cancelling"]');
      if (document.visibilityState === "visible") {
        try { await refreshRegions("[data-live-region]"); } catch (e) { /* offline: try again later */ }
      }
      setTimeout(tick, live ? 2000 : 6000);
    };
    setTimeout(tick, 2000);
  }
})();
