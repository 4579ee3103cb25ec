// urbanbrain: the one city map (live page, case page, operations-centre screen).
// Draws the served city's districts from GET /api/geo/districts (simplified bundled boundaries, no tiles) with
// ECharts, and the points on a canvas of their own laid over the chart (static/citymap-points.js, loaded
// before this file). 10,000 points moving every second on a 3840×2160 wall made ECharts rebuild a scatter
// series each second (frames of 180 ms); a plain canvas redraws them in a few milliseconds: the map's geo
// projection is linear, so three convertToPixel calls give the transform and each point is one fillRect,
// batched per colour. The canvas is sized in device pixels (devicePixelRatio) and redrawn at most once per
// animation frame. With `worker: true` (the wall) the canvas is handed to a worker running the same layer,
// and pushed updates go to it unparsed (`upsertRows`), so the main thread neither parses nor draws them.
//
//   var map = UBCityMap.create(element, {
//     theme: "dark" | "light",                  // colours of land and borders
//     colors: {ok: "#2ecc71", warning: "#f5a623", alarm: "#ff4d4f"},   // point colour by state
//     onDistrict: function (code, name) {},     // a district was clicked (drill-in)
//     onPoint: function (point) {},             // a point was clicked
//     pointSize: 6,
//     worker: false,                            // draw (and parse pushed rows) in a worker
//     onDrawn: function (count, drawn) {}       // after each draw of the point layer
//   });
//   map.ready.then(function () { ... });        // boundaries loaded and drawn
//   map.setPoints([{id, lon, lat, state, label, layer}]);   // replace the point layer
//   map.upsertPoints([{id, lon, lat, state, label}]); // change or add some points (SSE updates)
//   map.upsertRows(text);                      // the same, from the JSON text of rows [id, lon, lat, state]
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
      // a page may have started the request in its head (window.UBPrefetch.districts: a fetch promise)
      var started = window.UBPrefetch && window.UBPrefetch.districts;
      registered = (started || fetch("/api/geo/districts", { credentials: "same-origin" }))
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
    var districts = [];
    var values = null;
    var count = 0, drawn = 0;

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

    function onDrawn(c, d) { count = c; drawn = d; if (options.onDrawn) options.onDrawn(c, d); }
    var useWorker = !!(options.worker && window.Worker && canvas.transferControlToOffscreen);
    var layer, hitAt;
    if (useWorker) {
      var worker = new Worker("/static/citymap-points.js");
      var offscreen = canvas.transferControlToOffscreen();
      var waiting = {}, seq = 0;
      worker.postMessage({ type: "init", canvas: offscreen, colors: colors, size: size }, [offscreen]);
      worker.onmessage = function (e) {
        if (e.data.type === "drawn") onDrawn(e.data.count, e.data.drawn);
        else if (e.data.type === "hit" && waiting[e.data.seq]) { waiting[e.data.seq](e.data.point); delete waiting[e.data.seq]; }
      };
      var post = function (m) { worker.postMessage(m); };
      layer = {
        view: function (t, w, h, dpr) { post({ type: "view", T: t, w: w, h: h, dpr: dpr }); },
        set: function (list) { post({ type: "set", points: list || [] }); },
        upsert: function (list) { post({ type: "upsert", points: list || [] }); },
        rows: function (text) { post({ type: "rows", text: text }); },
        hide: function (name, on) { post({ type: "hide", layer: name, on: on }); }
      };
      hitAt = function (x, y, then) { seq += 1; waiting[seq] = then; post({ type: "hit", x: x, y: y, seq: seq }); };
    } else {
      layer = UBPointLayer.create(canvas, colors, size, onDrawn, window.requestAnimationFrame.bind(window));
      hitAt = function (x, y, then) { then(layer.hit(x, y)); };
    }

    // lon/lat -> CSS pixels: x = ox + lon*ax + lat*bx, y = oy + lon*ay + lat*by (the geo component's
    // projection is linear); roam, resize and setOption all end in a render: tell the layer when it moved
    function transform() {
      var o = chart.convertToPixel({ geoIndex: 0 }, [0, 0]);
      var e = chart.convertToPixel({ geoIndex: 0 }, [1, 0]);
      var n = chart.convertToPixel({ geoIndex: 0 }, [0, 1]);
      if (!o || !e || !n) return null;
      return { ox: o[0], oy: o[1], ax: e[0] - o[0], ay: e[1] - o[1], bx: n[0] - o[0], by: n[1] - o[1] };
    }
    var lastKey = "";
    function syncView() {
      var t = districts.length ? transform() : null, w = element.clientWidth, h = element.clientHeight;
      var dpr = window.devicePixelRatio || 1;
      var key = t ? [t.ox, t.oy, t.ax, t.ay, t.bx, t.by, w, h, dpr].join() : "";
      if (key === lastKey) return;
      lastKey = key;
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
      layer.view(t, w, h, dpr);
    }
    chart.on("rendered", syncView);

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
      if (options.onPoint) hitAt(e.offsetX, e.offsetY, function (p) { if (p) options.onPoint(p); });
    });
    chart.on("click", function (p) {
      if (!(p.componentType === "geo" || p.seriesType === "map") || !options.onDistrict) return;
      if (p.event && options.onPoint && !useWorker && layer.hit(p.event.offsetX, p.event.offsetY)) return;
      var f = districts.filter(function (d) { return d.properties.name === p.name; })[0];
      if (f) options.onDistrict(f.properties.code, f.properties.name);
    });
    if (options.tooltips !== false) {
      var asking = false;
      zr.on("mousemove", function (e) {
        if (asking) return;  // one question at a time to a worker
        asking = true;
        hitAt(e.offsetX, e.offsetY, function (p) {
          asking = false;
          if (!p) { tip.style.display = "none"; return; }
          tip.textContent = p.tooltip || p.label || p.id;
          tip.style.left = (e.offsetX + 12) + "px"; tip.style.top = (e.offsetY + 12) + "px";
          tip.style.display = "block";
        });
      });
      zr.on("globalout", function () { tip.style.display = "none"; });
    }
    window.addEventListener("resize", function () { chart.resize(); syncView(); });

    var api = {
      chart: chart,
      canvas: canvas,
      worker: useWorker,
      ready: loadDistricts().then(function (geo) { districts = geo.features || []; chart.setOption(option(), true); syncView(); }),
      setPoints: function (list) { count = (list || []).length; layer.set(list); },
      upsertPoints: function (list) { layer.upsert(list); },
      upsertRows: function (text) { layer.rows(text); },
      showLayer: function (name, on) { layer.hide(name, on); },
      setDistrictValues: function (map) { values = map; api.ready.then(function () { chart.setOption(option(), true); }); },
      districtCount: function () { return districts.length; },
      pointCount: function () { return count; },   // as of the last draw (a worker answers after drawing)
      drawnCount: function () { return drawn; }
    };
    return api;
  }

  window.UBCityMap = { create: create };
})();
