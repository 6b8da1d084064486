// EdgeMask dashboard front end: the live feed (Server-Sent Events) and the compliance chart (uPlot).
// No framework: the pages are rendered by the server; this only adds what must happen in the browser.
(function () {
  "use strict";

  function pad(n) { return String(n).padStart(2, "0"); }
  function utc(iso) {
    var d = new Date(iso);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }
  function duration(seconds) {
    return seconds < 60 ? seconds.toFixed(1) + " s" : Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }

  // Builds the same row the server renders (Web/Pages/EventRow.razor), with text nodes only: nothing from a message is parsed as HTML.
  function eventRow(e) {
    var snapshot = e.snapshotId
      ? el("a", { href: "/snapshots/" + encodeURIComponent(e.snapshotId) }, [
          el("img", { src: "/snapshots/" + encodeURIComponent(e.snapshotId), alt: "snapshot " + e.snapshotId })])
      : el("span", { "class": "muted" }, ["—"]);
    // violation.start and incorrect.start are both a "start"; the kind is the badge before it (and data-kind).
    var step = e.type.substring(e.type.indexOf(".") + 1);
    var incorrect = e.type.indexOf("incorrect.") === 0;
    var img = snapshot.querySelector && snapshot.querySelector("img");
    if (img) {
      // The JPEG may arrive a moment after its event: retry a few times before giving up.
      var tries = 0;
      img.addEventListener("error", function () {
        if (tries++ < 5) { setTimeout(function () { img.src = img.src.split("?")[0] + "?r=" + tries; }, 1000); }
      });
    }
    var kindBadges = incorrect ? [el("span", { "class": "badge kind-incorrect" }, ["incorrect mask"]), " "] : [];
    var p = e.probabilities;
    var title = p ? "mask " + p.mask.toFixed(2) + " · no_mask " + p.no_mask.toFixed(2) +
      (p.incorrect === null || p.incorrect === undefined ? "" : " · incorrect " + p.incorrect.toFixed(2)) : "";
    return el("tr", { "data-event-key": e.key, "data-device": e.device, "data-camera": e.camera, "data-type": e.type,
      "data-kind": incorrect ? "incorrect" : "violation", "data-label": e.label, "class": "fresh" }, [
      el("td", { "class": "snap" }, [snapshot]),
      el("td", {}, [el("time", { datetime: e.at }, [utc(e.at)])]),
      el("td", {}, [e.device + " / ", el("b", {}, [e.camera])]),
      el("td", {}, kindBadges.concat([el("span", { "class": "badge type-" + step }, [step])])),
      el("td", { "class": "num" }, [duration(e.durationSeconds)]),
      el("td", { "class": "num", title: title }, [el("span", { "class": "badge label", "data-label": e.label }, [e.label]), " " + e.probability.toFixed(2)]),
      el("td", { "class": "num" }, [String(e.trackId)])
    ]);
  }

  // The counters of the day (UTC) count each episode once, at its start; the server rendered them up to page load.
  function countStart(e) {
    var counters = document.getElementById("live-counters");
    if (!counters || e.sequence !== 0) { return; }
    var since = Date.parse(counters.getAttribute("data-since"));
    var at = Date.parse(e.at);
    if (at < since || at >= since + 86400000) { return; }
    var id = e.type === "violation.start" ? "count-violations" : e.type === "incorrect.start" ? "count-incorrect" : null;
    if (!id) { return; }
    var node = document.getElementById(id);
    node.textContent = String(Number(node.textContent) + 1);
  }

  function startLive(table) {
    var body = document.getElementById("feed-body");
    var state = document.getElementById("live-state");
    var source = new EventSource(table.getAttribute("data-stream"));
    source.onopen = function () {
      document.body.setAttribute("data-live", "connected");
      state.textContent = "live";
      state.className = "badge online";
    };
    source.onerror = function () {
      document.body.setAttribute("data-live", "reconnecting");
      state.textContent = "reconnecting…";
      state.className = "badge offline";
    };
    function onEvent(message) {
      var e = JSON.parse(message.data);
      if (body.querySelector('tr[data-event-key="' + CSS.escape(e.key) + '"]')) { return; }
      body.prepend(eventRow(e));
      countStart(e);
      while (body.rows.length > 200) { body.deleteRow(body.rows.length - 1); }
    }
    // The stream names each event by its episode's kind: a violation, or a mask worn incorrectly.
    source.addEventListener("violation", onEvent);
    source.addEventListener("incorrect", onEvent);
  }

  function startChart(container) {
    var data = JSON.parse(container.getAttribute("data-series"));
    if (!data.t.length) {
      container.append(el("p", { "class": "muted" }, ["No statistics in this range."]));
      return;
    }
    var width = Math.max(320, container.clientWidth || 900);
    // Half a bucket of margin on both sides so the first and last bars are drawn whole.
    var half = ({ minute: 60, hour: 3600, day: 86400 }[container.getAttribute("data-bucket")] || 60) / 2;
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined;
    var amber = getComputedStyle(document.documentElement).getPropertyValue("--incorrect").trim() || "rgb(255, 170, 0)";
    function translucent(rgb, alpha) { return rgb.replace(/^rgb\((.*)\)$/, "rgba($1, " + alpha + ")"); }
    new uPlot({
      width: width,
      height: 300,
      scales: { x: { time: true, range: function (u, min, max) { return [min - half, max + half]; } } },
      // The pages show UTC everywhere; so does the chart, whatever the browser's zone.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      series: [
        {},
        { label: "Faces seen", stroke: "#1f7a4d", fill: "rgba(31,122,77,0.25)", width: 2, paths: bars },
        { label: "Unmasked", stroke: "#c0392b", fill: "rgba(192,57,43,0.45)", width: 2, paths: bars },
        { label: "Incorrect mask", stroke: amber, fill: translucent(amber, 0.75), width: 2, paths: bars },
        { label: "Violations", stroke: "#2c5aa0", width: 2, points: { show: true } },
        { label: "Incorrect-mask episodes", stroke: amber, width: 2, dash: [6, 4], points: { show: true } }
      ],
      axes: [{}, { label: "faces" }]
    }, [data.t, data.seen, data.unmasked, data.incorrect, data.violations, data.incorrectEpisodes], container);
    container.setAttribute("data-rendered", "true");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var feed = document.getElementById("feed");
    if (feed) { startLive(feed); }
    var chart = document.getElementById("chart");
    if (chart && window.uPlot) { startChart(chart); }
  });
})();
