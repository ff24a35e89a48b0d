// Keeps a page's live part current: polls its fragment every second with If-None-Match (304 when nothing
// changed) and swaps it in. A form someone is typing in ([data-keep]) is carried over as it is, even when
// the call it belongs to has left the screen: an unsent note is never lost, and a new call still shows.
(function () {
  "use strict";
  const PERIOD_MS = 1000;

  function inUse(section) {
    return section.contains(document.activeElement) ||
      Array.from(section.querySelectorAll("textarea")).some(function (t) { return t.value; });
  }

  function swap(box, html) {
    const kept = Array.from(box.querySelectorAll("[data-keep]")).filter(inUse);
    const focused = document.activeElement;
    const fresh = document.createElement("div");
    fresh.innerHTML = html;
    kept.forEach(function (section) {
      const twin = fresh.querySelector('[data-keep="' + section.dataset.keep + '"]');
      if (twin) { twin.replaceWith(section); } else { fresh.appendChild(section); }
    });
    box.replaceChildren.apply(box, Array.from(fresh.childNodes));
    if (focused && box.contains(focused)) { focused.focus(); }
  }

  function start(box) {
    const url = box.dataset.live;
    let etag = null;
    async function poll() {
      try {
        const headers = etag ? { "If-None-Match": etag } : {};
        const response = await fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" });
        if (response.redirected || response.status === 401) { window.location.reload(); return; }
        if (response.status === 200) {
          swap(box, await response.text());
          etag = response.headers.get("ETag");
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
