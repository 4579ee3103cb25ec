// urbanbrain: the operations-centre wall (/ioc). One snapshot on load (GET /api/ioc/snapshot, requested in the
// page head, without the facilities layer, which GET /api/ioc/facilities brings after first paint), then only
// pushed updates (GET /api/ioc/events, server-sent events): indicator values, alerts, new cases, and device
// state coalesced by the server to one message a second. Clicking a district drills in (the tiles show that
// district's values where an indicator has a breakdown by district). No polling.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ioc-config").textContent);
  var M = config.messages;
  var screen = config.screen.name;
  var district = null;
  var tiles = {};          // indicator name -> its tile data
  var stats = { pushed: 0, indicators: 0, alerts: 0, cases: 0 };
  var LEFT = 4;            // the first four themes on the left, the rest under the map
  var PER_THEME = [6, 5];  // tiles per theme on the left and under the map: the worst lights first

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function fmt(v) {
    if (v == null || isNaN(v)) return M.no_value;
    var a = Math.abs(v);
    if (a >= 1e8) return (v / 1e8).toFixed(2) + "亿";
    if (a >= 1e4 && config.lang === "zh-CN") return (v / 1e4).toFixed(1) + "万";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return a >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100);
  }

  function spark(values) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 100 30");
    svg.setAttribute("preserveAspectRatio", "none");
    if (values && values.length > 1) {
      var min = Math.min.apply(null, values), max = Math.max.apply(null, values), span = max - min || 1;
      var pts = values.map(function (v, i) {
        return (i * 100 / (values.length - 1)).toFixed(1) + "," + (28 - (v - min) * 26 / span).toFixed(1);
      }).join(" ");
      var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", pts);
      svg.appendChild(line);
    }
    return svg;
  }

  function title(i) { return (config.lang === "zh-CN" ? i.title_zh || i.title_en : i.title_en || i.title_zh) || i.name; }

  function tile(i) {
    var shown = district ? i.district_value : i.value;
    var row = el("div", "tile " + (i.state || "unknown") + (i.stale ? " stale" : ""));
    row.dataset.name = i.name;
    var name = el("span", "name");
    name.appendChild(el("span", "light"));
    name.appendChild(document.createTextNode(title(i)));
    name.title = title(i) + (i.iso_code ? " · ISO " + i.iso_code : "") + (i.target ? " · " + i.target : "");
    if (district && i.streets) {  // drilled into a district: its streets (a breakdown by street), largest first
      var names = Object.keys(i.streets).sort(function (a, b) { return i.streets[b] - i.streets[a]; });
      row.classList.add("drill");
      row.dataset.streets = names.length;
      name.title += "\n" + (M.streets || "") + ": " + names.map(function (s) { return s + " " + fmt(i.streets[s]); }).join(" · ");
    }
    var value = el("span", "value", fmt(shown));
    if (shown != null) value.appendChild(el("small", null, i.unit || ""));
    row.appendChild(name);
    row.appendChild(value);
    row.appendChild(spark(i.spark));
    return row;
  }

  var RANK = { alarm: 0, warn: 1, unknown: 3, ok: 2 };
  function pick(list, n) {  // the wall shows the worst lights first, then indicators with an ISO code
    return list.slice().sort(function (a, b) {
      return (RANK[a.state] - RANK[b.state]) || ((b.iso_code ? 1 : 0) - (a.iso_code ? 1 : 0)) || (a.name < b.name ? -1 : 1);
    }).slice(0, n);
  }

  function themeBox(group, health, n) {
    var box = el("div", "theme");
    box.dataset.theme = group.theme;
    var h = el("h2", null, M["theme." + group.theme] || group.theme);
    var pct = health.themes[group.theme];
    h.appendChild(el("span", "pct", pct == null ? "" : pct + "%"));
    box.appendChild(h);
    group.indicators.forEach(function (i) { i.theme = group.theme; tiles[i.name] = i; });
    var shown = district ? group.indicators.filter(function (i) { return i.district_value != null; }) : group.indicators;
    pick(shown, n).forEach(function (i) { box.appendChild(tile(i)); });
    return box;
  }

  function renderHealth(health) {
    var score = document.getElementById("ioc-score");
    score.textContent = health.score == null ? "—" : health.score;
    score.style.color = health.score == null ? "" : health.score >= 80 ? "#2ecc71" : health.score >= 60 ? "#f5a623" : "#ff4d4f";
    var counts = document.getElementById("ioc-counts");
    counts.textContent = "";
    ["ok", "warn", "alarm"].forEach(function (k) {
      var s = el("span", null, M["light." + k] + " " + health.counts[k]);
      s.className = "dot-" + k;
      counts.appendChild(s);
    });
  }

  function recountHealth() {  // the same sums as the server's `operate.ioc.health`, after a pushed update
    var counts = { ok: 0, warn: 0, alarm: 0, unknown: 0 }, perTheme = {};
    Object.keys(tiles).forEach(function (n) {
      var state = tiles[n].state in counts ? tiles[n].state : "unknown";
      counts[state] += 1;
      var th = perTheme[tiles[n].theme] = perTheme[tiles[n].theme] || { ok: 0, judged: 0 };
      if (state !== "unknown") { th.judged += 1; if (state === "ok") th.ok += 1; }
    });
    var judged = counts.ok + counts.warn + counts.alarm, themes = {};
    Object.keys(perTheme).forEach(function (t) {
      themes[t] = perTheme[t].judged ? Math.round(1000 * perTheme[t].ok / perTheme[t].judged) / 10 : null;
    });
    document.querySelectorAll(".theme").forEach(function (box) {
      var pct = box.querySelector(".pct");
      if (pct) pct.textContent = themes[box.dataset.theme] == null ? "" : themes[box.dataset.theme] + "%";
    });
    renderHealth({ score: judged ? Math.round(1000 * counts.ok / judged) / 10 : null, counts: counts, themes: themes });
  }

  function renderTiles(groups, health) {
    var left = document.getElementById("ioc-tiles-left"), bottom = document.getElementById("ioc-tiles-bottom");
    left.textContent = "";
    bottom.textContent = "";
    tiles = {};
    groups.forEach(function (g, n) {
      (n < LEFT ? left : bottom).appendChild(themeBox(g, health, PER_THEME[n < LEFT ? 0 : 1]));
    });
    map.chart.resize();
  }

  function tickerItem(kind, text, at) {
    var list = document.getElementById("ioc-ticker");
    var li = el("li", kind + " fresh");
    var when = at ? new Date(at) : new Date();  // the wall's local time, as its clock shows
    li.appendChild(el("time", null, when.toLocaleTimeString(config.lang === "zh-CN" ? "zh-CN" : "en-GB", { hour12: false })));
    li.appendChild(el("span", "tag", kind === "alert" ? M.alerts : M.cases));
    li.appendChild(document.createTextNode(text));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 40) list.removeChild(list.lastChild);
  }

  function renderRanking(rows) {
    var table = document.getElementById("ioc-ranking");
    table.textContent = "";
    if (!rows.length) {  // a new city, or a screen shown before any case closed: say so, not a blank panel
      var empty = el("tr", "empty");
      empty.appendChild(el("td", "muted", M.ranking_empty));
      table.appendChild(empty);
      return;
    }
    rows.slice(0, 12).forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", null, String(r.rank)));
      var name = el("td", "name", r.name || r.department);
      name.title = r.department;
      tr.appendChild(name);
      var pct = r.on_time_resolution == null ? null : Math.round(r.on_time_resolution * 1000) / 10;
      var bar = el("td");
      var b = el("div", "bar");
      b.style.width = (pct || 0) + "%";
      bar.appendChild(b);
      tr.appendChild(bar);
      tr.appendChild(el("td", "num", pct == null ? "—" : pct + "%"));
      table.appendChild(tr);
    });
  }

  var legend = document.getElementById("ioc-points");
  var map = UBCityMap.create(document.getElementById("ioc-map"), {
    theme: "dark", pointSize: Math.max(3, Math.round(window.innerWidth / 480)),  // 4 px at 1920, 8 at 3840
    worker: true,  // 10,000 moving points are parsed and drawn off the main thread
    onDrawn: function (count) {
      var label = M.points + " " + count;
      if (legend.textContent !== label) legend.textContent = label;  // no layout when the count holds
    },
    onDistrict: function (code, name) { district = name; load(); }
  });

  var facilityPoints = [];  // the facilities layer, fetched after first paint and kept across reloads
  var wantsFacilities = config.screen.layers.indexOf("facilities") >= 0;

  function located(f) {  // the legend's "n of m located" (facilities the viewer may see, and placed)
    document.getElementById("ioc-located").textContent = M.located.replace("{n}", f.located).replace("{m}", f.total);
  }

  function loadFacilities() {
    if (!wantsFacilities) { window.UBIoc.facilities = null; return Promise.resolve(null); }
    var q = "/api/ioc/facilities?screen=" + encodeURIComponent(screen) + "&lang=" + encodeURIComponent(config.lang);
    return fetch(q, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("facilities: HTTP " + r.status);
      return r.json();
    }).then(function (f) {
      facilityPoints = f.points || [];
      map.upsertPoints(facilityPoints);
      located(f);
      performance.mark("ioc-facilities");  // bench/ioc reads when the layer arrived after first paint
      window.UBIoc.facilities = f;
      return f;
    });
  }

  function load() {
    var q = "/api/ioc/snapshot?facilities=false&screen=" + encodeURIComponent(screen) + "&lang=" +
      encodeURIComponent(config.lang) + (district ? "&district=" + encodeURIComponent(district) : "");
    var early = !district && window.UBPrefetch && window.UBPrefetch.snapshot;  // started in the page head
    if (early) window.UBPrefetch.snapshot = null;
    return (early || fetch(q, { credentials: "same-origin" })).then(function (r) {
      if (!r.ok) throw new Error("snapshot: HTTP " + r.status);
      return r.json();
    }).then(function (snap) {
      document.getElementById("ioc-scope").textContent = district || M.city;
      document.getElementById("ioc-back").hidden = !district;
      renderTiles(snap.tiles, snap.health);
      renderHealth(snap.health);
      renderRanking(snap.ranking || []);
      if (!district) {
        document.getElementById("ioc-ticker").textContent = "";
        (snap.cases || []).slice().reverse().forEach(function (c) { tickerItem("case", (c.district ? c.district + " · " : "") + (c.title || c.category || c.id), c.created_at); });
        (snap.alerts || []).slice().reverse().forEach(function (a) { tickerItem("alert", a.message || a.rule, a.raised_at); });
        map.setPoints((snap.points || []).concat(facilityPoints));
      }
      return map.ready.then(function () {  // the districts load beside the snapshot, not before it
        window.UBIoc.loaded += 1;
        return snap;
      });
    });
  }

  document.getElementById("ioc-back").addEventListener("click", function () { district = null; load(); });
  document.querySelectorAll("#ioc-layers input[data-layer]").forEach(function (box) {  // the screen's layers, on and off
    box.addEventListener("change", function () { map.showLayer(box.dataset.layer, box.checked); });
  });

  function onIndicator(e) {
    var d = JSON.parse(e.data);
    stats.pushed += 1; stats.indicators += 1;
    var i = tiles[d.name];
    if (!i) return;
    i.value = d.value; i.state = d.state; i.stale = d.stale;
    if (district && d.breakdown) i.district_value = d.breakdown[district];
    if (!d.error && d.value != null) { i.spark = (i.spark || []).concat([d.value]).slice(-24); }
    var old = document.querySelector('.tile[data-name="' + d.name + '"]');
    if (old) {
      var fresh = tile(i);
      fresh.classList.add("flash");
      old.parentNode.replaceChild(fresh, old);
    }
    recountHealth();
  }

  function connect() {
    var source = new EventSource("/api/ioc/events");
    source.addEventListener("open", function () { window.UBIoc.open = true; });
    source.addEventListener("indicator", onIndicator);
    source.addEventListener("alert", function (e) {
      var a = JSON.parse(e.data);
      stats.pushed += 1; stats.alerts += 1;
      if (a.event === "raised" || a.status === "raised") tickerItem("alert", a.message || a.rule, a.raised_at);
    });
    source.addEventListener("case", function (e) {
      var c = JSON.parse(e.data);
      stats.pushed += 1; stats.cases += 1;
      tickerItem("case", (c.district ? c.district + " · " : "") + (c.title || c.category || c.id), c.created_at);
      if (c.lon != null && c.lat != null) map.upsertPoints([{ id: "c:" + c.id, lon: c.lon, lat: c.lat, state: "ok", label: c.title || c.id, layer: "cases" }]);
    });
    source.addEventListener("points", function (e) {
      if (config.screen.layers.indexOf("sensors") < 0) return;  // this screen shows no live sensors
      stats.pushed += 1;
      map.upsertRows(e.data);  // rows [id, lon, lat, state], parsed and drawn by the map's worker
    });
    return source;
  }

  function clock() {
    var now = new Date();
    document.getElementById("ioc-clock").textContent = now.toLocaleString(config.lang === "zh-CN" ? "zh-CN" : "en-GB", { hour12: false });
  }
  clock();
  setInterval(clock, 1000);

  window.UBIoc = { map: map, stats: stats, loaded: 0, facilities: undefined,  // then the layer's counts
                   tiles: function () { return tiles; }, reload: load,
                   drill: function (name) { district = name; return load(); } };
  load().then(function () {  // painted: now the live stream, and the facilities (the slowest layer to read)
    window.UBIoc.source = connect();
    return loadFacilities().catch(function (err) { window.UBIoc.facilities = null; throw err; });
  });
})();
