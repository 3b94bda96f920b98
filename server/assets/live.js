// Bulkhead's pages, live: every element with data-live="URL" gets its inner HTML replaced by
// each message of that Server-Sent Events stream. Without scripts, a <noscript> reload keeps the
// page fresh instead. No build step, nothing loaded from elsewhere.
"use strict";
// A region must not be replaced under a click: a button swapped between press and release
// (or a form swapped as it submits) would drop the click. Updates wait out a press, and stop
// once a form is on its way (the page is about to be replaced anyway).
var holdUntil = 0;
var submitting = false;
document.addEventListener("pointerdown", function () { holdUntil = Date.now() + 700; }, true);
document.addEventListener("submit", function () { submitting = true; }, true);

document.querySelectorAll("[data-live]").forEach(function (region) {
  var source = new EventSource(region.dataset.live);
  var pending = null;
  var timer = null;
  function apply() {
    timer = null;
    if (submitting || pending === null) { return; }
    var wait = holdUntil - Date.now();
    if (wait > 0) { timer = setTimeout(apply, wait); return; }
    region.innerHTML = pending;
    pending = null;
    region.classList.remove("stale");
    region.dataset.updates = String(Number(region.dataset.updates || 0) + 1);
  }
  source.onmessage = function (event) {
    pending = event.data;
    if (timer === null) { apply(); }
  };
  // The browser reconnects on its own; until then, say the region may be behind.
  source.onerror = function () { region.classList.add("stale"); };
});
