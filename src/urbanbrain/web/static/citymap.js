// urbanbrain: the one city map (live page, case page, operations-centre screen).
// Draws the served city's districts from GET /api/geo/districts (bundled boundaries, no tiles) with
// ECharts, and a point layer that takes 10,000+ points (one scatter series in "large" mode, redrawn by
// setPoints without rebuilding the map).
//
//   var map = UBCityMap.create(element, {
//     theme: "dark" | "light",                  // colours of land and borders
//     colors: {ok: "#2ecc71", warning: "#f5a623", alarm: "#ff4d4f"},   // point colour by state
//     onDistrict: function (code, name) {},     // a district was clicked (drill-in)
//     onPoint: function (point) {},             // a point was clicked
//     pointSize: 6
//   });
//   map.ready.then(function () { ... });        // boundaries loaded and drawn
//   map.setPoints([{id, lon, lat, state, label}]);   // replace the point layer
//   map.upsertPoints([{id, lon, lat, state, label}]); // change or add some points (SSE updates)
//   map.setDistrictValues({"430102": 0.93});   // shade districts (e.g. an indicator), null to clear
//   map.districtCount()                        // districts drawn (tests read it)
(function () {
  "use strict";
  var THEMES = {
    dark: { land: "#13203a", border: "#3a5a8c", emphasis: "#1f3a66", label: "#9fb3d9", bg: "transparent" },
    light: { land: "#eef2f7", border: "#8aa0bf", emphasis: "#d6e4f5", label: "#40526e", bg: "transparent" }
  };
  var DEFAULT_COLORS = { ok: "#2ecc71", normal: "#2ecc71", warning: "#f5a623", alarm: "#ff4d4f",
                         overdue: "#ff4d4f", silent: "#8c8c8c", unknown: "#38c8ff" };
  var registered = null;

  function loadDistricts() {
    if (!registered) {
      registered = fetch("/api/geo/districts", { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error("districts: HTTP " + r.status); return r.json(); })
        .then(function (geo) { echarts.registerMap("ub-city", geo); return geo; });
    }
    return registered;
  }

  function create(element, options) {
    options = options || {};
    var theme = THEMES[options.theme || "light"] || THEMES.light;
    var colors = Object.assign({}, DEFAULT_COLORS, options.colors || {});
    var chart = echarts.init(element, null, { renderer: "canvas" });
    var points = new Map();
    var districts = [];
    var values = null;

    // Points are drawn as one scatter series per state with bare [lon, lat] pairs: ECharts' large mode
    // then renders 10,000+ points in one pass (a colour per item would push it off the fast path), and
    // `raws[state][i]` keeps each point for tooltips and clicks.
    var raws = {};

    function pointSeries() {
      var byState = {};
      points.forEach(function (p) {
        var state = colors[p.state] ? p.state : "unknown";
        (byState[state] = byState[state] || []).push(p);
      });
      raws = byState;
      return Object.keys(colors).map(function (state) {
        var list = byState[state] || [];
        // progressive: a big layer is painted over several frames, so no frame waits for all of it
        return { id: "points-" + state, type: "scatter", coordinateSystem: "geo", large: list.length > 2000,
                 largeThreshold: 2000, progressive: 2500, progressiveThreshold: 5000, symbolSize: options.pointSize || 6, animation: false,
                 itemStyle: { color: colors[state] }, silent: list.length > 2000,  // no hit-testing 10k dots
                 zlevel: 1,  // its own canvas: moving points never repaints the districts
                 data: list.map(function (p) { return [p.lon, p.lat]; }) };
      });
    }

    function rawOf(p) { return (raws[String(p.seriesId).replace("points-", "")] || [])[p.dataIndex]; }

    function districtData() {
      return districts.map(function (f) {
        var v = values ? values[f.properties.code] : undefined;
        return { name: f.properties.name, code: f.properties.code, value: v === undefined ? null : v };
      });
    }

    function option() {
      var o = {
        backgroundColor: theme.bg, animation: false,
        tooltip: { trigger: "item", formatter: function (p) {
          if (p.seriesType === "scatter") { var r = rawOf(p); return r ? (r.tooltip || r.label || r.id) : ""; }
          return p.name + (p.value == null || isNaN(p.value) ? "" : ": " + p.value);
        } },
        geo: { map: "ub-city", roam: true, zoom: 1.1,
               itemStyle: { areaColor: theme.land, borderColor: theme.border, borderWidth: 1 },
               emphasis: { itemStyle: { areaColor: theme.emphasis }, label: { color: theme.label } },
               label: { show: true, color: theme.label, fontSize: 11 }, regions: [] },
        series: [{ id: "districts", type: "map", map: "ub-city", geoIndex: 0, data: districtData() }]
          .concat(pointSeries())
      };
      if (values) {
        var nums = Object.keys(values).map(function (k) { return values[k]; }).filter(function (v) { return v != null; });
        if (nums.length) {
          o.visualMap = { show: false, seriesIndex: 0, min: Math.min.apply(null, nums), max: Math.max.apply(null, nums),
                          inRange: { color: [theme.land, theme.emphasis] } };
        }
      }
      return o;
    }

    var redrawQueued = false;
    function redrawPoints() {  // several updates within one frame are drawn once
      if (redrawQueued) return;
      redrawQueued = true;
      requestAnimationFrame(function () { redrawQueued = false; chart.setOption({ series: pointSeries() }); });
    }

    chart.on("click", function (p) {
      if (p.seriesType === "scatter" && options.onPoint) options.onPoint(rawOf(p));
      else if (p.componentType === "geo" || p.seriesType === "map") {
        var f = districts.filter(function (d) { return d.properties.name === p.name; })[0];
        if (f && options.onDistrict) options.onDistrict(f.properties.code, f.properties.name);
      }
    });
    window.addEventListener("resize", function () { chart.resize(); });

    var api = {
      chart: chart,
      ready: loadDistricts().then(function (geo) { districts = geo.features || []; chart.setOption(option(), true); }),
      setPoints: function (list) {
        points = new Map();
        (list || []).forEach(function (p) { points.set(String(p.id), p); });
        api.ready.then(redrawPoints);
      },
      upsertPoints: function (list) {
        (list || []).forEach(function (p) {
          var old = points.get(String(p.id));
          points.set(String(p.id), old ? Object.assign({}, old, p) : p);
        });
        api.ready.then(redrawPoints);
      },
      setDistrictValues: function (map) { values = map; api.ready.then(function () { chart.setOption(option(), true); }); },
      districtCount: function () { return districts.length; },
      pointCount: function () { return points.size; }
    };
    return api;
  }

  window.UBCityMap = { create: create };
})();
