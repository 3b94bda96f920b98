// Bulkhead's pages, live: every element with data-live="URL" gets its inner HTML replaced by
// each message of that Server-Sent Events stream. Without scripts, a <noscript> reload keeps the
// page fresh instead. No build step, nothing loaded from elsewhere.
"use strict";
document.querySelectorAll("[data-live]").forEach(function (region) {
  var source = new EventSource(region.dataset.live);
  source.onmessage = function (event) {
    region.innerHTML = event.data;
    region.classList.remove("stale");
    region.dataset.updates = String(Number(region.dataset.updates || 0) + 1);
  };
  // The browser reconnects on its own; until then, say the region may be behind.
  source.onerror = function () { region.classList.add("stale"); };
});
