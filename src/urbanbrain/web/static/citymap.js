// urbanbrain: the one city map (live page, case page, operations-centre screen).
// Draws the served city's districts from GET /api/geo/districts (bundled boundaries, no tiles) with
// ECharts, and the points on a canvas of their own laid over the chart. 10,000 points moving every second
// on a 3840×2160 wall made ECharts rebuild a scatter series each second (frames of 180 ms); a plain canvas
// redraws them in a few milliseconds: the map's geo projection is linear, so three convertToPixel calls
// give the transform and each point is one fillRect, batched per colour. The canvas is sized in device
// pixels (devicePixelRatio) and redrawn at most once per animation frame, whatever the update rate.
//
//   var map = UBCityMap.create(element, {
//     theme: "dark" | "light",                  // colours of land and borders
//     colors: {ok: "#2ecc71", warning: "#f5a623", alarm: "#ff4d4f"},   // point colour by state
//     onDistrict: function (code, name) {},     // a district was clicked (drill-in)
//     onPoint: function (point) {},             // a point was clicked
//     pointSize: 6
//   });
//   map.ready.then(function () { ... });        // boundaries loaded and drawn
//   map.setPoints([{id, lon, lat, state, label, layer}]);   // replace the point layer
//   map.upsertPoints([{id, lon, lat, state, label}]); // change or add some points (SSE updates)
//   map.showLayer("facilities", false);        // hide the points of one layer (point.layer), true to show
//   map.setDistrictValues({"430102": 0.93});   // shade districts (e.g. an indicator), null to clear
//   map.districtCount()                        // districts drawn (tests read it)
//   map.pointCount(), map.drawnCount()         // points held, points drawn in the last frame
(function () {
  "use strict";
  var THEMES = {
    dark: { land: "#13203a", border: "#3a5a8c", emphasis: "#1f3a66", label: "#9fb3d9", bg: "transparent" },
    light: { land: "#eef2f7", border: "#8aa0bf", emphasis: "#d6e4f5", label: "#40526e", bg: "transparent" }
  };
  var DEFAULT_COLORS = { ok: "#2ecc71", normal: "#2ecc71", warning: "#f5a623", alarm: "#ff4d4f",
                         overdue: "#ff4d4f", silent: "#8c8c8c", facility: "#b37feb", unknown: "#38c8ff" };
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
    var size = options.pointSize || 6;
    var chart = echarts.init(element, null, { renderer: "canvas" });
    var points = new Map();
    var hidden = {};          // layer -> true when switched off
    var districts = [];
    var values = null;
    var drawn = 0;

    if (getComputedStyle(element).position === "static") element.style.position = "relative";
    var canvas = document.createElement("canvas");
    canvas.className = "ub-points";
    canvas.style.cssText = "position:absolute;left:0;top:0;pointer-events:none;z-index:2";
    element.appendChild(canvas);
    var tip = document.createElement("div");
    tip.className = "ub-point-tip";
    tip.style.cssText = "position:absolute;z-index:3;pointer-events:none;display:none;padding:2px 6px;font-size:12px;" +
      "background:rgba(0,0,0,.75);color:#fff;border-radius:3px;white-space:nowrap";
    element.appendChild(tip);

    // lon/lat -> CSS pixels: x = ox + lon*ax + lat*bx, y = oy + lon*ay + lat*by (the geo component's
    // projection is linear; roam and resize change the numbers, read again before each draw)
    var T = null, lastKey = "";
    function transform() {
      var o = chart.convertToPixel({ geoIndex: 0 }, [0, 0]);
      var e = chart.convertToPixel({ geoIndex: 0 }, [1, 0]);
      var n = chart.convertToPixel({ geoIndex: 0 }, [0, 1]);
      if (!o || !e || !n) return null;
      return { ox: o[0], oy: o[1], ax: e[0] - o[0], ay: e[1] - o[1], bx: n[0] - o[0], by: n[1] - o[1] };
    }

    function draw() {
      queued = false;
      var w = element.clientWidth, h = element.clientHeight, dpr = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
        canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
        canvas.style.width = w + "px"; canvas.style.height = h + "px";
      }
      var ctx = canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      T = districts.length ? transform() : null;
      drawn = 0;
      if (!T) return;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      var byColor = {};
      points.forEach(function (p) {
        if (p.lon == null || p.lat == null || hidden[p.layer]) return;
        var c = colors[p.state] || colors.unknown;
        (byColor[c] = byColor[c] || []).push(p);
      });
      var half = size / 2;
      Object.keys(byColor).forEach(function (c) {
        ctx.fillStyle = c;
        var list = byColor[c];
        for (var i = 0; i < list.length; i++) {
          var p = list[i];
          var x = T.ox + p.lon * T.ax + p.lat * T.bx, y = T.oy + p.lon * T.ay + p.lat * T.by;
          if (x < -size || y < -size || x > w + size || y > h + size) continue;
          if (p.layer === "facilities") {  // facilities are diamonds, so they read apart from sensors
            ctx.beginPath(); ctx.moveTo(x, y - size); ctx.lineTo(x + size, y); ctx.lineTo(x, y + size);
            ctx.lineTo(x - size, y); ctx.closePath(); ctx.fill();
          } else {
            ctx.fillRect(x - half, y - half, size, size);
          }
          drawn += 1;
        }
      });
    }

    var queued = false;
    function redraw() {  // any number of updates within one frame are drawn once
      if (queued) return;
      queued = true;
      requestAnimationFrame(draw);
    }

    // roam (drag, zoom), resize and setOption all end in a render: redraw when the projection moved
    chart.on("rendered", function () {
      var t = districts.length ? transform() : null;
      var key = t ? [t.ox, t.oy, t.ax, t.by, element.clientWidth, element.clientHeight].join() : "";
      if (key !== lastKey) { lastKey = key; redraw(); }
    });

    function hit(x, y) {  // the nearest drawn point within a few pixels of (x, y), CSS pixels
      if (!T) return null;
      var best = null, bestD = Math.max(size, 6) * Math.max(size, 6);
      points.forEach(function (p) {
        if (p.lon == null || p.lat == null || hidden[p.layer]) return;
        var dx = T.ox + p.lon * T.ax + p.lat * T.bx - x, dy = T.oy + p.lon * T.ay + p.lat * T.by - y;
        var d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = p; }
      });
      return best;
    }

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
          return p.name + (p.value == null || isNaN(p.value) ? "" : ": " + p.value);
        } },
        geo: { map: "ub-city", roam: true, zoom: 1.1,
               itemStyle: { areaColor: theme.land, borderColor: theme.border, borderWidth: 1 },
               emphasis: { itemStyle: { areaColor: theme.emphasis }, label: { color: theme.label } },
               label: { show: true, color: theme.label, fontSize: 11 }, regions: [] },
        series: [{ id: "districts", type: "map", map: "ub-city", geoIndex: 0, data: districtData() }]
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

    var zr = chart.getZr();
    zr.on("click", function (e) {  // a point sits on top of its district: it takes the click
      var p = hit(e.offsetX, e.offsetY);
      if (p && options.onPoint) options.onPoint(p);
    });
    chart.on("click", function (p) {
      if (!(p.componentType === "geo" || p.seriesType === "map") || !options.onDistrict) return;
      if (p.event && options.onPoint && hit(p.event.offsetX, p.event.offsetY)) return;
      var f = districts.filter(function (d) { return d.properties.name === p.name; })[0];
      if (f) options.onDistrict(f.properties.code, f.properties.name);
    });
    if (options.tooltips !== false) {
      zr.on("mousemove", function (e) {
        var p = points.size <= 20000 ? hit(e.offsetX, e.offsetY) : null;
        if (!p) { tip.style.display = "none"; return; }
        tip.textContent = p.tooltip || p.label || p.id;
        tip.style.left = (e.offsetX + 12) + "px"; tip.style.top = (e.offsetY + 12) + "px";
        tip.style.display = "block";
      });
      zr.on("globalout", function () { tip.style.display = "none"; });
    }
    window.addEventListener("resize", function () { chart.resize(); redraw(); });

    var api = {
      chart: chart,
      canvas: canvas,
      ready: loadDistricts().then(function (geo) { districts = geo.features || []; chart.setOption(option(), true); redraw(); }),
      setPoints: function (list) {
        points = new Map();
        (list || []).forEach(function (p) { points.set(String(p.id), p); });
        redraw();
      },
      upsertPoints: function (list) {  // in place: 10,000 changes a second allocate nothing per point
        (list || []).forEach(function (p) {
          var id = String(p.id), old = points.get(id);
          if (!old) { points.set(id, p); return; }
          for (var k in p) { if (Object.prototype.hasOwnProperty.call(p, k)) old[k] = p[k]; }
        });
        redraw();
      },
      showLayer: function (layer, on) { hidden[layer] = !on; redraw(); },
      setDistrictValues: function (map) { values = map; api.ready.then(function () { chart.setOption(option(), true); }); },
      districtCount: function () { return districts.length; },
      pointCount: function () { return points.size; },
      drawnCount: function () { return drawn; },
      redraw: redraw
    };
    return api;
  }

  window.UBCityMap = { create: create };
})();
