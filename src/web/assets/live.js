// Live updates for a page with a #live block: listen to its Server-Sent Events stream
// (data-stream) and, on each update, fetch the server-rendered block again (data-fragment)
// and swap it in. Carrier text is escaped by the server; this script never builds HTML.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch) { return; }
  var streamUrl = live.getAttribute("data-stream");
  var fragmentUrl = live.getAttribute("data-fragment");
  var loading = false;
  var again = false;

  function reload() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(fragmentUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        live.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () { /* the next update or reconnect tries again */ })
      .then(function () {
        loading = false;
        if (again) { again = false; reload(); }
      });
  }

  var source = new EventSource(streamUrl);
  document.body.setAttribute("data-stream", "connecting");
  source.onopen = function () {
    document.body.setAttribute("data-stream", "open");
  };
  source.onerror = function () {
    // EventSource reconnects by itself, sending Last-Event-ID; catch up once it is back.
    document.body.setAttribute("data-stream", "reconnecting");
  };
  source.addEventListener("update", reload);
  source.addEventListener("close", function (event) {
    // An expired token will not work again; anything else (a gateway stopping) reconnects by
    // itself and resumes from the last event id.
    var reconnect = true;
    try { reconnect = JSON.parse(event.data).reconnect !== false; } catch (e) { /* keep going */ }
    if (!reconnect) {
      source.close();
      document.body.setAttribute("data-stream", "closed");
    }
  });
})();
