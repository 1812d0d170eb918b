// Shared page behaviour: refresh marked regions of the page from a fresh render of the same URL.
// Lists work without JavaScript; with it they update by themselves.
"use strict";
(function () {
  async function renderOnce(selector) {
    const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const attr = selector.slice(1, -1);
    for (const region of document.querySelectorAll(selector)) {
      const next = fresh.querySelector(`[${attr}="${region.getAttribute(attr)}"]`);
      if (next) region.innerHTML = next.innerHTML;
    }
  }

  // One render at a time, in order: a request made while one is in flight runs once right after it,
  // so an older response never paints over a newer one and a busy stream cannot starve the page.
  let inFlight = null, again = false;
  async function refreshRegions(selector) {
    if (inFlight) { again = true; return inFlight; }
    inFlight = (async () => { do { again = false; await renderOnce(selector); } while (again); })();
    try { await inFlight; } finally { inFlight = null; }
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
