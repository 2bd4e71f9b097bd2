// The dashboard's only script: live station updates over server-sent events (EventSource).
// No third-party code; no inline handlers (the CSP forbids them). Forms work without it.
(function () {
  "use strict";
  var table = document.getElementById("stations");
  if (!table || !window.EventSource) { return; }
  var labels = JSON.parse(table.getAttribute("data-labels") || "{}");
  var status = document.getElementById("live-status");
  var rows = new Map();
  table.querySelectorAll("tr[data-station-id]").forEach(function (tr) {
    rows.set(tr.getAttribute("data-station-id"), tr);
  });
  var pending = new Map();
  var scheduled = false;
  var countsDue = null;  // one counts refresh at most every COUNTS_EVERY_MS, after changes
  var countsAt = 0;
  var COUNTS_EVERY_MS = 3000;

  function refreshCounts() {
    countsDue = null;
    countsAt = Date.now();
    fetch("/ui/overview/counts", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (counts) {
        if (!counts) { return; }
        Object.keys(counts).forEach(function (name) {
          var cell = document.getElementById("count-" + name);
          if (cell) { cell.textContent = String(counts[name]); }
        });
      })
      .catch(function () { /* the next change tries again */ });
  }

  function say(key) { if (status) { status.textContent = status.getAttribute("data-" + key); } }
  function label(value) { return labels[value] || value; }

  function badge(className, text, attrs) {
    var span = document.createElement("span");
    span.className = "badge " + className;
    span.textContent = text;  // text, never HTML
    Object.keys(attrs).forEach(function (k) { span.setAttribute(k, attrs[k]); });
    return span;
  }

  // What each row shows now ("state|connector:status,…"): a change that does not alter it
  // costs nothing. Rows flash by switching between two identical animations (a new animation
  // name restarts it), so no layout is forced per row: one layout per frame at most.
  var shown = new Map();
  function signature(station) {
    return station.state + "|" + station.connectors.map(function (c) { return c.join(":"); })
      .join(",");
  }

  function apply() {
    scheduled = false;
    pending.forEach(function (station, id) {
      var tr = rows.get(id);
      var now = signature(station);
      if (!tr || shown.get(id) === now) { return; }
      shown.set(id, now);
      var state = tr.querySelector("td.state");
      state.replaceChildren(badge("state-" + station.state, label(station.state),
                                  {"data-state": station.state}));
      var connectors = tr.querySelector("td.connectors");
      var parts = station.connectors.map(function (c) {
        return badge("conn-" + c[1], c[0] + ": " + label(c[1]), {"data-connector": String(c[0])});
      });
      connectors.replaceChildren.apply(connectors, parts);
      var second = tr.classList.contains("changed");
      tr.classList.toggle("changed", !second);
      tr.classList.toggle("changed-again", second);
    });
    pending.clear();
  }

  var source = new EventSource(table.getAttribute("data-live"));
  source.addEventListener("open", function () { say("on"); });
  source.addEventListener("error", function () { say("off"); });
  source.addEventListener("resync", function () { source.close(); window.location.reload(); });
  source.addEventListener("stations", function (event) {
    // One batch per server tick; changes are coalesced per station and drawn once per frame.
    var stations = JSON.parse(event.data);
    stations.forEach(function (station) {
      if (rows.has(station.id)) { pending.set(station.id, station); }
    });
    if (stations.length && countsDue === null) {
      var wait = Math.max(0, countsAt + COUNTS_EVERY_MS - Date.now());
      countsDue = window.setTimeout(refreshCounts, wait);
    }
    if (pending.size && !scheduled) { scheduled = true; window.requestAnimationFrame(apply); }
  });
})();

// Live parts of a page (a site's power, a station's connectors and readings): its stream says
// that something changed; one fetch of the page's fragment (rendered and escaped by the
// server) then replaces each part of the same id. Changes arriving during a fetch cost one
// more fetch at most, however many they are.
(function () {
  "use strict";
  var holder = document.getElementById("live-parts");
  if (!holder || !window.EventSource || !window.DOMParser) { return; }
  var status = document.getElementById("live-status");
  var busy = false;
  var again = false;

  function say(key) { if (status) { status.textContent = status.getAttribute("data-" + key); } }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    fresh.querySelectorAll("[data-part][id]").forEach(function (part) {
      var here = document.getElementById(part.id);
      if (here) { here.replaceWith(document.importNode(part, true)); }
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(holder.getAttribute("data-fragment"), {credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { /* the next change tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource(holder.getAttribute("data-live"));
  source.addEventListener("open", function () { say("on"); });
  source.addEventListener("error", function () { say("off"); });
  (holder.getAttribute("data-events") || "changed").split(" ").forEach(function (name) {
    source.addEventListener(name, refresh);
  });
})();
