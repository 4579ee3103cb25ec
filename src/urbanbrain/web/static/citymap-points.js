// urbanbrain: the city map's point layer (static/citymap.js) — kept points, drawn on a canvas, hit-tested.
// The same code runs on the page's main thread (live page, case page: a few hundred points, clickable) or,
// for the operations-centre wall, in a dedicated worker that owns the canvas (transferControlToOffscreen):
// parsing 10,000 pushed changes a second, keeping the points and drawing them then happen off the main
// thread, and the canvas's frames reach the compositor from the worker, so the main thread of a 3840×2160
// wall is left with forwarding one string a second.
//
// Worker messages in: {type: "init", canvas, colors, size} · {type: "view", T, w, h, dpr} ·
// {type: "set" | "upsert", points} · {type: "rows", text} (JSON rows [id, lon, lat, state] of the sensors
// layer, as the server pushed them) · {type: "hide", layer, on} · {type: "hit", x, y, seq}.
// Out: {type: "drawn", count, drawn} after each draw · {type: "hit", seq, point}.
(function (scope) {
  "use strict";

  // canvas: an HTMLCanvasElement or OffscreenCanvas; colors: state -> CSS colour; size: CSS pixels;
  // onDrawn(count, drawn) after each draw; frame: requestAnimationFrame of the thread it runs on
  function create(canvas, colors, size, onDrawn, frame) {
    var ctx = canvas.getContext("2d");
    var points = new Map(), hidden = {}, queued = false;
    var T = null, W = 0, H = 0, DPR = 1;  // lon/lat -> CSS px: x = ox + lon*ax + lat*bx, y = oy + lon*ay + lat*by

    function put(p) {  // in place: 10,000 changes a second allocate nothing per known point
      var id = String(p.id), old = points.get(id);
      if (!old) { points.set(id, p); return; }
      for (var k in p) { if (Object.prototype.hasOwnProperty.call(p, k)) old[k] = p[k]; }
    }

    function draw() {
      queued = false;
      var pw = Math.round(W * DPR), ph = Math.round(H * DPR);  // device pixels: sharp at any devicePixelRatio
      if (canvas.width !== pw || canvas.height !== ph) { canvas.width = pw; canvas.height = ph; }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      var drawn = 0;
      if (T) {
        ctx.setTransform(DPR, 0, 0, DPR, 0, 0);
        var byColor = {};  // one fillStyle per colour, not per point
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
            if (x < -size || y < -size || x > W + size || y > H + size) continue;
            if (p.layer === "facilities") {  // diamonds, so fixed places read apart from sensors
              ctx.beginPath(); ctx.moveTo(x, y - size); ctx.lineTo(x + size, y); ctx.lineTo(x, y + size);
              ctx.lineTo(x - size, y); ctx.closePath(); ctx.fill();
            } else {
              ctx.fillRect(x - half, y - half, size, size);
            }
            drawn += 1;
          }
        });
      }
      if (onDrawn) onDrawn(points.size, drawn);
    }

    function redraw() {  // any number of updates within one frame are drawn once
      if (queued) return;
      queued = true;
      frame(draw);
    }

    return {
      view: function (t, w, h, dpr) { T = t; W = w; H = h; DPR = dpr; redraw(); },
      set: function (list) { points = new Map(); (list || []).forEach(put); redraw(); },
      upsert: function (list) { (list || []).forEach(put); redraw(); },
      rows: function (text) {
        var rows = JSON.parse(text);
        for (var i = 0; i < rows.length; i++) {
          var r = rows[i];
          put(r[1] == null ? { id: r[0], state: r[3] } : { id: r[0], lon: r[1], lat: r[2], state: r[3], layer: "sensors" });
        }
        redraw();
      },
      hide: function (layer, on) { hidden[layer] = !on; redraw(); },
      hit: function (x, y) {  // the nearest shown point within a few pixels of (x, y), CSS pixels
        if (!T) return null;
        var best = null, bestD = Math.max(size, 6) * Math.max(size, 6);
        points.forEach(function (p) {
          if (p.lon == null || p.lat == null || hidden[p.layer]) return;
          var dx = T.ox + p.lon * T.ax + p.lat * T.bx - x, dy = T.oy + p.lon * T.ay + p.lat * T.by - y;
          var d = dx * dx + dy * dy;
          if (d <= bestD) { bestD = d; best = p; }
        });
        return best;
      },
      count: function () { return points.size; }
    };
  }

  if (typeof WorkerGlobalScope !== "undefined" && scope instanceof WorkerGlobalScope) {
    var layer = null;
    scope.onmessage = function (e) {
      var m = e.data;
      if (m.type === "init") {
        layer = create(m.canvas, m.colors, m.size, function (count, drawn) {
          scope.postMessage({ type: "drawn", count: count, drawn: drawn });
        }, scope.requestAnimationFrame ? scope.requestAnimationFrame.bind(scope) : function (f) { setTimeout(f, 16); });
      } else if (!layer) {
        return;
      } else if (m.type === "hit") {
        scope.postMessage({ type: "hit", seq: m.seq, point: layer.hit(m.x, m.y) });
      } else if (m.type === "view") { layer.view(m.T, m.w, m.h, m.dpr); }
      else if (m.type === "set") { layer.set(m.points); }
      else if (m.type === "upsert") { layer.upsert(m.points); }
      else if (m.type === "rows") { layer.rows(m.text); }
      else if (m.type === "hide") { layer.hide(m.layer, m.on); }
    };
  } else {
    scope.UBPointLayer = { create: create };
  }
})(self);
