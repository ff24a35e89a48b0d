// Keeps a page's live part current: polls its fragment every second with If-None-Match (304 when nothing
// changed) and swaps it in. A field someone is typing in is never swapped out from under them.
(function () {
  "use strict";
  const PERIOD_MS = 1000;

  function start(box) {
    const url = box.dataset.live;
    let etag = null;
    async function poll() {
      try {
        const headers = etag ? { "If-None-Match": etag } : {};
        const response = await fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" });
        if (response.redirected || response.status === 401) { window.location.reload(); return; }
        if (response.status === 200) {
          const busy = box.contains(document.activeElement) && document.activeElement !== document.body;
          const typed = Array.from(box.querySelectorAll("textarea")).some(function (t) { return t.value; });
          if (!busy && !typed) {
            box.innerHTML = await response.text();
            etag = response.headers.get("ETag");
          }
        }
      } catch (e) {
        // the server is restarting or the network blinked: try again at the next tick
      }
      window.setTimeout(poll, PERIOD_MS);
    }
    window.setTimeout(poll, PERIOD_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(start);
  });
})();
