// urbanbrain console: the live pages (/live, /live/<feed>) and the alerts page, kept current by the
// server-sent events of /api/stream/events. No reloads, no polling: the server pushes state changes and
// alert events of the user's departments; an alert row is redrawn by the server (/alerts/<id>/row) so
// its buttons are the ones govern.authz allows.
(function () {
  "use strict";

  function connect(topics, handlers) {
    var conn = document.getElementById("live-conn");
    var source = new EventSource("/api/stream/events?topics=" + encodeURIComponent(topics));
    source.addEventListener("open", function () {
      if (conn) { conn.textContent = conn.dataset.on; conn.classList.add("on"); }
    });
    source.addEventListener("error", function () {  // EventSource reconnects by itself
      if (conn) { conn.textContent = conn.dataset.off; conn.classList.remove("on"); }
    });
    Object.keys(handlers).forEach(function (kind) {
      source.addEventListener(kind, function (ev) {
        var payload;
        try { payload = JSON.parse(ev.data); } catch (e) { return; }
        handlers[kind](payload);
      });
    });
    window.addEventListener("beforeunload", function () { source.close(); });
    return source;
  }

  // events per second over the last 10 s (per key: a feed, or readings / messages / updates)
  function RateMeter() {
    var samples = [];
    return {
      add: function (key, n) { samples.push([Date.now(), key, n]); },
      rate: function (key) {
        var now = Date.now(), total = 0;
        samples = samples.filter(function (s) { return now - s[0] <= 10000; });
        samples.forEach(function (s) { if (key === undefined || s[1] === key) total += s[2]; });
        return total / 10;
      }
    };
  }

  function text(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function addNumber(el, n) {
    if (!el) return;
    var current = parseInt(el.textContent.replace(/[^0-9-]/g, ""), 10) || 0;
    el.textContent = (current + n).toLocaleString("en-US");
  }

  // --- /live: the list of feeds ----------------------------------------------------------------
  function feedList(table) {
    var meter = RateMeter();
    var words = document.getElementById("live-words").dataset;
    connect(table.dataset.topics, {
      state: function (p) {
        var row = table.querySelector('tr[data-feed="' + CSS.escape(p.feed) + '"]');
        if (!row) return;
        var n = p.readings === undefined ? (p.changes || []).length : p.readings;
        meter.add(p.feed, n);
        addNumber(row.querySelector('[data-cell="readings"]'), n);
        row.querySelector('[data-cell="last"]').textContent = words.justNow;
      }
    });
    setInterval(function () {
      table.querySelectorAll("tr[data-feed]").forEach(function (row) {
        row.querySelector('[data-cell="rate"]').textContent = meter.rate(row.dataset.feed).toFixed(1);
      });
    }, 1000);
  }

  // --- /live/<feed>: one feed's devices --------------------------------------------------------
  function feedPage(source) {
    var data = JSON.parse(source.textContent);
    var words = document.getElementById("live-words").dataset;
    var tbody = document.querySelector("#devices-table tbody");
    var alarmed = new Set(data.alarmed);
    var openAlerts = new Set(data.open_alerts || []);
    var meter = RateMeter();
    var devices = new Map();
    data.devices.forEach(function (d) { devices.set(d.id, d); });
    var map = null;
    if (window.UBCityMap && window.echarts) {
      map = UBCityMap.create(document.getElementById("live-map"), {
        theme: "dark", pointSize: 9,
        onPoint: function (p) {
          var row = tbody.querySelector('tr[data-device="' + CSS.escape(p.id) + '"]');
          if (row) { row.scrollIntoView({ block: "center" }); row.classList.add("flash"); }
        }
      });
      window.ubLiveMap = map;  // tests and the curious read it
      map.setPoints(data.devices.filter(hasPlace).map(point));
    }

    function hasPlace(d) { return d.lon !== null && d.lon !== undefined && d.lat !== null && d.lat !== undefined; }
    function point(d) { return { id: d.id, lon: d.lon, lat: d.lat, state: d.state, label: d.id + " · " + (d.type || "") }; }

    function setState(id, state) {
      var d = devices.get(id);
      if (d) d.state = state;
      var row = tbody.querySelector('tr[data-device="' + CSS.escape(id) + '"]');
      if (row) {
        row.className = "live-" + state;
        row.querySelector('[data-cell="state"]').textContent = words[state];
      }
      if (map && d && hasPlace(d)) map.upsertPoints([point(d)]);
    }

    function rowFor(change) {
      var row = tbody.querySelector('tr[data-device="' + CSS.escape(change.device_id) + '"]');
      if (row) return row;
      var empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      row = document.createElement("tr");
      row.dataset.device = change.device_id;
      ["id", "type", "state", "observed", "values"].forEach(function (cell) {
        var td = document.createElement("td");
        td.dataset.cell = cell;
        td.className = cell === "id" || cell === "observed" ? "mono" : "small";
        row.appendChild(td);
      });
      row.querySelector('[data-cell="id"]').textContent = change.device_id;
      row.querySelector('[data-cell="type"]').textContent = change.type || "";
      tbody.insertBefore(row, tbody.firstChild);
      addNumber(document.getElementById("fig-devices"), 1);
      return row;
    }

    function apply(change) {
      var row = rowFor(change);
      row.querySelector('[data-cell="observed"]').textContent = (change.observed_at || "").slice(0, 19);
      var values = row.querySelector('[data-cell="values"]');
      Object.keys(change.attributes || {}).forEach(function (name) {
        var kv = values.querySelector('[data-attr="' + CSS.escape(name) + '"]');
        if (!kv) {
          kv = document.createElement("span");
          kv.className = "kv";
          kv.dataset.attr = name;
          var b = document.createElement("b");
          b.textContent = name;
          var v = document.createElement("span");
          v.className = "v";
          kv.appendChild(b); kv.appendChild(document.createTextNode(" ")); kv.appendChild(v);
          values.appendChild(kv); values.appendChild(document.createTextNode(" "));
        }
        kv.querySelector(".v").textContent = text(change.attributes[name]);
        kv.classList.remove("changed"); void kv.offsetWidth; kv.classList.add("changed");
      });
      var d = devices.get(change.device_id) || { id: change.device_id, type: change.type };
      if (change.lon !== null && change.lon !== undefined) { d.lon = change.lon; d.lat = change.lat; }
      d.state = alarmed.has(change.device_id) ? "alarm" : "ok";
      devices.set(change.device_id, d);
      setState(change.device_id, d.state);
    }

    connect(data.topics, {
      state: function (p) {
        if (p.feed !== data.feed) return;
        var changes = p.changes || [];
        changes.forEach(apply);
        var readings = p.readings === undefined ? changes.length : p.readings;
        meter.add("readings", readings);
        meter.add("messages", p.messages || 0);
        meter.add("updates", changes.length);
        addNumber(document.getElementById("fig-readings"), readings);
        var silent = document.getElementById("fig-silent");
        silent.textContent = tbody.querySelectorAll("tr.live-silent").length;
      },
      alert: function (a) {
        if (a.feed !== data.feed) return;
        if (a.status === "cleared") { openAlerts.delete(a.id); } else { openAlerts.add(a.id); }
        if (a.status === "cleared") alarmed.delete(a.device_id); else alarmed.add(a.device_id);
        setState(a.device_id, alarmed.has(a.device_id) ? "alarm" : "ok");
        document.getElementById("fig-alerts").textContent = openAlerts.size;
        document.getElementById("fig-alerts-box").classList.toggle("alarm", openAlerts.size > 0);
      },
      deadletter: function (p) {  // refused messages, pushed as they are refused
        if (p.feed !== data.feed) return;
        addNumber(document.getElementById("fig-dead"), p.count || 0);
        document.getElementById("fig-dead-box").classList.add("alarm");
        var table = document.getElementById("dead-letters");
        var body = table.tBodies[0] || table;
        var empty = body.querySelector("tr.empty");
        if (empty) empty.remove();
        (p.letters || []).forEach(function (d) {
          var row = document.createElement("tr");
          [[(d.at || "").slice(0, 19), "mono small nowrap"], [d.device_id || "—", "mono small"],
           [d.reason || "", "small clip"]].forEach(function (c) {
            var td = document.createElement("td");
            td.textContent = c[0];
            td.className = c[1];
            if (c[1] === "small clip") td.title = c[0];
            row.appendChild(td);
          });
          row.classList.add("flash");
          body.insertBefore(row, body.firstChild);
        });
        while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
      }
    });
    setInterval(function () {
      document.getElementById("fig-rate").textContent = meter.rate("readings").toFixed(1);
      document.getElementById("fig-msg-rate").textContent = meter.rate("messages").toFixed(1);
      document.getElementById("fig-update-rate").textContent = meter.rate("updates").toFixed(1);
    }, 1000);
  }

  // --- /alerts ----------------------------------------------------------------------------------
  var SHOWN = { open: ["raised", "acknowledged"], acknowledged: ["acknowledged"], cleared: ["cleared"],
                all: ["raised", "acknowledged", "cleared"] };

  function alertsPage(table) {
    var tbody = table.querySelector("tbody");
    connect("alerts.>", {
      alert: function (a) {
        var existing = document.getElementById("alert-" + a.id);
        if (!existing && SHOWN[table.dataset.view].indexOf(a.status) < 0) return;
        fetch("/alerts/" + encodeURIComponent(a.id) + "/row", { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (!html) return;
            var holder = document.createElement("tbody");
            holder.innerHTML = html.trim();
            var row = holder.firstElementChild;
            var current = document.getElementById("alert-" + a.id);
            if (current) { current.replaceWith(row); } else {
              var empty = tbody.querySelector("tr.empty");
              if (empty) empty.remove();
              tbody.insertBefore(row, tbody.firstChild);
            }
            row.classList.add("flash");
            if (window.htmx) htmx.process(row);
          });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("feeds-table");
    if (list) feedList(list);
    var feed = document.getElementById("live-data");
    if (feed) feedPage(feed);
    var alerts = document.getElementById("alerts-table");
    if (alerts) alertsPage(alerts);
  });
})();
