// The timeline of one video on a canvas (activeloc.ui): read-only lanes ("timeline" mode) or the
// same lanes above an editable annotation lane ("annotator" mode). Plain ES module, no build, no
// import: anywidget loads it as it is shipped in the package.
// Edits are never applied here: the script sends an operation to Python, which owns the model
// (undo, redo, validation, drafts), and draws what comes back in `segments`.

const LEFT = 110;       // px: lane names
const AXIS = 24;        // px: the time ruler (click or drag it to move the playhead)
const ROW = 14;         // px: one row of a packed lane
const EDIT_ROW = 20;    // px: one row of the annotation lane
const SCORE_H = 90;     // px: the candidates lane (height = attention score)
const EDGE_PX = 5;      // px: how near an edge a press grabs it
const CLICK_PX = 3;     // px: less movement than this is a click
const COLORS = { truth: "#2f9e44", detections: "#e03131", evidence: "#f08c00", annotation: "#1971c2" };
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function colormap(v) {
  const x = Math.min(Math.max(Number.isFinite(v) ? v : 0, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Greedy interval packing: each segment goes to the first row free at its start.
function pack(t0, t1) {
  const order = t0.map((_, i) => i).sort((a, b) => t0[a] - t0[b] || t1[a] - t1[b]);
  const ends = [], rows = new Array(t0.length).fill(0);
  for (const i of order) {
    let r = ends.findIndex((e) => e <= t0[i]);
    if (r < 0) { r = ends.length; ends.push(0); }
    ends[r] = t1[i];
    rows[i] = r;
  }
  return { rows, n: Math.max(ends.length, 1) };
}

function niceStep(span, pixels) {
  const raw = span / Math.max(pixels / 90, 1);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function fmt(t) { return Number.isFinite(t) ? t.toFixed(2) : "?"; }

function keyName(e) {
  const ctrl = e.ctrlKey || e.metaKey;
  const key = e.key === " " ? "space" : e.key.toLowerCase();
  return (ctrl ? "ctrl+" : "") + (ctrl && e.shiftKey ? "shift+" : "") + key;
}

function render({ model, el }) {
  const editable = model.get("mode") === "annotator";
  const root = document.createElement("div");
  root.className = "activeloc-timeline";
  root.tabIndex = 0;
  const player = document.createElement("video");
  player.className = "activeloc-player";
  player.muted = true;
  player.preload = "auto";
  const canvas = document.createElement("canvas");
  const tip = document.createElement("div");
  tip.className = "activeloc-tip";
  root.append(player, canvas, tip);
  el.appendChild(root);
  const ctx = canvas.getContext("2d");

  let layout = [], W = 0, H = 0, view = [0, 1];
  let drag = null, preview = null, hoverKey = null, clock = null, lastSync = 0;

  const duration = () => Math.max(model.get("duration") || 1, 1e-6);
  const X = (t) => LEFT + ((t - view[0]) / (view[1] - view[0])) * (W - LEFT);
  const T = (x) => view[0] + ((x - LEFT) / (W - LEFT)) * (view[1] - view[0]);

  function setView(v) {
    const d = duration(), minSpan = Math.min(d, Math.max(d / 5000, 0.05));
    let span = Math.min(Math.max(v[1] - v[0], minSpan), d);
    let a = Math.min(Math.max(v[0], 0), d - span);
    view = [a, a + span];
  }

  function readView() {
    const v = model.get("view");
    setView(v && v.length === 2 && v[1] > v[0] ? v : [0, duration()]);
  }

  function editLane() {
    const segs = model.get("segments") || [];
    return { name: "annotation", kind: "annotation", t0: segs.map((s) => s.t0), t1: segs.map((s) => s.t1),
             label: segs.map((s) => s.label) };
  }

  // Lane geometry: computed when the data change, not on zoom (packing is in time, not pixels).
  function computeLayout() {
    const lanes = (model.get("lanes") || []).concat(editable ? [editLane()] : []);
    let y = AXIS;
    layout = lanes.map((lane) => {
      let h, rows = null, rowH = ROW;
      if (lane.kind === "candidates") {
        h = SCORE_H;
      } else {
        rowH = lane.kind === "annotation" ? EDIT_ROW : ROW;
        const p = pack(lane.t0, lane.t1);
        rows = p.rows;
        h = Math.max(p.n * rowH, lane.kind === "annotation" ? 2 * EDIT_ROW : ROW) + 6;
      }
      const item = { lane, y, h, rows, rowH };
      y += h + 4;
      return item;
    });
    W = model.get("width") || 900;
    H = y + 4;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    canvas.style.width = W + "px";
    canvas.style.height = H + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  // Where segment i of a lane is drawn: [x0, x1, yTop, height].
  function box(item, i) {
    const { lane } = item;
    let t0 = lane.t0[i], t1 = lane.t1[i];
    if (preview && lane.kind === "annotation" && preview.index === i) [t0, t1] = [preview.t0, preview.t1];
    const x0 = X(t0), x1 = Math.max(X(t1), x0 + 1);
    if (lane.kind === "candidates") {
      const v = lane.value ? lane.value[i] : 0;
      return [x0, x1, item.y + 2 + (1 - Math.min(Math.max(v || 0, 0), 1)) * (item.h - 6), 2];
    }
    return [x0, x1, item.y + 3 + item.rows[i] * item.rowH, item.rowH - 2];
  }

  function draw() {
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    // Ruler.
    ctx.fillStyle = "#f1f3f5";
    ctx.fillRect(LEFT, 0, W - LEFT, AXIS - 4);
    ctx.fillStyle = "#495057";
    ctx.fillText(String(model.get("video_id") || ""), 4, AXIS / 2 - 2);
    const step = niceStep(view[1] - view[0], W - LEFT);
    for (let t = Math.ceil(view[0] / step) * step; t <= view[1]; t += step) {
      const x = X(t);
      ctx.fillRect(x, AXIS - 10, 1, 6);
      ctx.fillText(step < 1 ? t.toFixed(1) : t.toFixed(0), x + 2, AXIS / 2 - 4);
    }
    const selected = model.get("selected");
    const flagged = new Set(editable ? model.get("flagged") || [] : []);
    for (const item of layout) {
      const { lane } = item;
      ctx.fillStyle = lane.kind === "annotation" ? "#e7f5ff" : "#f8f9fa";
      ctx.fillRect(LEFT, item.y, W - LEFT, item.h);
      ctx.fillStyle = "#212529";
      ctx.fillText(String(lane.name), 4, item.y + Math.min(item.h / 2, 10));
      ctx.save();
      ctx.beginPath();
      ctx.rect(LEFT, item.y, W - LEFT, item.h);
      ctx.clip();
      const n = lane.t0.length;
      for (let i = 0; i < n; i++) {
        const [x0, x1, y, h] = box(item, i);
        if (x1 < LEFT || x0 > W) continue;
        if (lane.kind === "candidates") ctx.fillStyle = colormap(lane.value ? lane.value[i] : 0);
        else if (lane.kind === "detections" && lane.value) { ctx.globalAlpha = 0.35 + 0.65 * (lane.value[i] || 0); ctx.fillStyle = COLORS.detections; }
        else ctx.fillStyle = COLORS[lane.kind] || "#868e96";
        ctx.fillRect(x0, y, x1 - x0, h);
        ctx.globalAlpha = 1;
        const isSelected = editable ? lane.kind === "annotation" && selected === i
          : selected && selected.lane === lane.name && selected.index === i;
        if (isSelected || flagged.has(i) && lane.kind === "annotation") {
          ctx.strokeStyle = isSelected ? "#000" : "#f03e3e";
          ctx.lineWidth = 2;
          ctx.strokeRect(x0, y, x1 - x0, Math.max(h, 2));
        }
        if (lane.kind !== "candidates" && lane.label && x1 - x0 > 30) {
          ctx.fillStyle = "#fff";
          ctx.fillText(String(lane.label[i] ?? "(no label)"), x0 + 3, y + h / 2, x1 - x0 - 6);
        }
      }
      if (drag && drag.type === "draw" && lane.kind === "annotation") {
        ctx.fillStyle = "rgba(25,113,194,0.4)";
        const [a, b] = [X(drag.t0), X(drag.t)].sort((p, q) => p - q);
        ctx.fillRect(a, item.y + 3, b - a, EDIT_ROW - 2);
      }
      ctx.restore();
    }
    if (editable) {
      const x = X(model.get("playhead") || 0);
      if (x >= LEFT && x <= W) { ctx.fillStyle = "#e8590c"; ctx.fillRect(x - 1, 0, 2, H); }
    }
  }

  // Data changed: lay out again and draw, timed; the time goes to `render_ms`.
  function fullRender() {
    const start = performance.now();
    computeLayout();
    draw();
    const ms = performance.now() - start;
    model.set("render_ms", ms);
    model.save_changes();
    // Also in the page, for a browser (or a test) to read without the kernel: render time, segments.
    canvas.dataset.renderMs = ms.toFixed(2);
    if (editable) root.dataset.segments = JSON.stringify(model.get("segments") || []);
  }

  function hit(x, y) {
    for (let k = 0; k < layout.length; k++) {
      const item = layout[k];
      if (y < item.y || y > item.y + item.h) continue;
      let best = null, bestD = Infinity;
      for (let i = 0; i < item.lane.t0.length; i++) {
        const [x0, x1, yy, h] = box(item, i);
        if (x < x0 - EDGE_PX || x > x1 + EDGE_PX) continue;
        const d = y < yy ? yy - y : y > yy + h ? y - yy - h : 0;
        const limit = item.lane.kind === "candidates" ? 4 : 0;
        if (d <= limit && (d < bestD || d === bestD && best !== null && x1 - x0 < best.x1 - best.x0)) {
          bestD = d;
          best = { lane: k, index: i, x0, x1 };
        }
      }
      return best ? { ...best, item } : { lane: k, index: -1, item };
    }
    return null;
  }

  function showTip(h, e) {
    if (!h || h.index < 0) { tip.style.display = "none"; hoverKey = null; return; }
    const { lane } = h.item, i = h.index;
    // Labels and names come from data files: they go in as text nodes, never as markup.
    const name = document.createElement("b");
    name.textContent = String(lane.name);
    const lines = [];
    if (lane.label && lane.label[i] != null) lines.push(String(lane.label[i]));
    if (lane.info && lane.info[i] != null) lines.push(String(lane.info[i]));
    else if (lane.value && lane.value[i] != null) lines.push(`value ${fmt(lane.value[i])}`);
    tip.replaceChildren(name, ` ${fmt(lane.t0[i])}–${fmt(lane.t1[i])} s`);
    for (const line of lines) tip.append(document.createElement("br"), line);
    const r = root.getBoundingClientRect();
    tip.style.left = `${e.clientX - r.left + 12}px`;
    tip.style.top = `${e.clientY - r.top + 12}px`;
    tip.style.display = "block";
    hoverKey = `${h.lane}:${i}`;
  }

  function local(e) {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  function setPlayhead(t, seekVideo = true) {
    t = Math.min(Math.max(t, 0), duration());
    model.set("playhead", t);
    if (seekVideo && model.get("video_url") && Math.abs(player.currentTime - t) > 0.05) player.currentTime = t;
    const now = performance.now();
    if (now - lastSync > 250 || !model.get("playing")) { model.save_changes(); lastSync = now; }
    draw();
  }

  function send(message) { model.send({ ...message, index: model.get("selected"), playhead: model.get("playhead") }); }

  function onDown(e) {
    if (e.button !== 0) return;
    root.focus();
    const [x, y] = local(e);
    if (x < LEFT) return;
    const t = T(x), h = hit(x, y);
    if (editable && y < AXIS) drag = { type: "scrub" };
    else if (editable && h && h.item.lane.kind === "annotation") {
      if (h.index >= 0) {
        model.set("selected", h.index);
        model.save_changes();
        const edge = Math.abs(x - h.x0) <= EDGE_PX ? "t0" : Math.abs(x - h.x1) <= EDGE_PX ? "t1" : null;
        drag = { type: edge ? "edge" : "move", edge, index: h.index, grab: t };
      } else drag = { type: "draw", t0: t };
    } else drag = { type: "pan", grab: t, start: view.slice() };
    drag.x = x;
    drag.y = y;
    drag.t = t;
    drag.hit = h;
    if (drag.type === "scrub") setPlayhead(t);
    window.addEventListener("mousemove", onDragMove);
    window.addEventListener("mouseup", onUp);
    e.preventDefault();
  }

  function onDragMove(e) {
    if (!drag) return;
    const [x] = local(e);
    const t = T(Math.min(Math.max(x, LEFT), W));
    drag.t = t;
    drag.moved = drag.moved || Math.abs(x - drag.x) >= CLICK_PX;
    if (drag.type === "pan") {
      const span = drag.start[1] - drag.start[0], dt = ((x - drag.x) / (W - LEFT)) * span;
      setView([drag.start[0] - dt, drag.start[1] - dt]);
    } else if (drag.type === "scrub") setPlayhead(t);
    else if ((drag.type === "edge" || drag.type === "move") && drag.moved) {
      const s = model.get("segments")[drag.index];
      if (drag.type === "edge") preview = { index: drag.index, t0: drag.edge === "t0" ? t : s.t0, t1: drag.edge === "t1" ? t : s.t1 };
      else preview = { index: drag.index, t0: s.t0 + t - drag.grab, t1: s.t1 + t - drag.grab };
    }
    draw();
  }

  function onUp() {
    window.removeEventListener("mousemove", onDragMove);
    window.removeEventListener("mouseup", onUp);
    const d = drag;
    drag = null;
    preview = null;
    if (!d) return;
    if (d.type === "pan") {
      if (d.moved) { model.set("view", view.slice()); model.save_changes(); }
      else if (!editable) {
        const h = d.hit;
        model.set("selected", h && h.index >= 0 ? { lane: h.item.lane.name, index: h.index } : null);
        model.save_changes();
      }
    } else if (d.type === "draw") {
      if (d.moved) send({ op: "add", t0: Math.min(d.t0, d.t), t1: Math.max(d.t0, d.t) });
      else { model.set("selected", -1); setPlayhead(d.t0); }
    } else if (d.type === "edge" && d.moved) send({ op: "edges", index: d.index, [d.edge]: d.t });
    else if (d.type === "move" && d.moved) send({ op: "move", index: d.index, delta: d.t - d.grab });
    draw();
  }

  function onHover(e) {
    if (drag) return;
    const [x, y] = local(e);
    const h = x >= LEFT ? hit(x, y) : null;
    showTip(h, e);
    canvas.style.cursor = editable && h && h.index >= 0 && h.item.lane.kind === "annotation"
      && (Math.abs(x - h.x0) <= EDGE_PX || Math.abs(x - h.x1) <= EDGE_PX) ? "ew-resize" : "default";
  }

  function onWheel(e) {
    const [x] = local(e);
    if (x < LEFT) return;
    e.preventDefault();
    const span = view[1] - view[0];
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const dt = ((e.shiftKey ? e.deltaY : e.deltaX) / (W - LEFT)) * span;
      setView([view[0] + dt, view[1] + dt]);
    } else {
      const t = T(x), f = Math.exp(e.deltaY * 0.0015);
      setView([t - (t - view[0]) * f, t + (view[1] - t) * f]);
    }
    draw();
    clearTimeout(onWheel.timer);
    onWheel.timer = setTimeout(() => { model.set("view", view.slice()); model.save_changes(); }, 150);
  }

  function tick() {
    if (!model.get("playing")) { clock = null; return; }
    const now = performance.now();
    if (model.get("video_url")) setPlayhead(player.currentTime, false);
    else setPlayhead((model.get("playhead") || 0) + (now - clock) / 1000, false);
    clock = now;
    if (model.get("playhead") >= duration()) { model.set("playing", false); model.save_changes(); return; }
    requestAnimationFrame(tick);
  }

  function onPlaying() {
    if (model.get("playing")) {
      if (model.get("video_url")) { player.currentTime = model.get("playhead") || 0; player.play().catch(() => {}); }
      clock = performance.now();
      requestAnimationFrame(tick);
    } else {
      player.pause();
      model.save_changes();
    }
  }

  function onKey(e) {
    if (!editable) return;
    const action = (model.get("shortcuts") || {})[keyName(e)];
    if (!action) return;
    e.preventDefault();
    if (action.op === "play") { model.set("playing", !model.get("playing")); model.save_changes(); onPlaying(); }
    else if (action.op === "seek") setPlayhead((model.get("playhead") || 0) + action.sign * (model.get("nudge") || 0.5));
    else send(action);
  }

  function onVideo() {
    const url = model.get("video_url");
    player.style.display = editable && url ? "block" : "none";
    if (editable && url && player.getAttribute("src") !== url) player.src = url;
    if (!url) player.removeAttribute("src");
  }

  canvas.addEventListener("mousedown", onDown);
  canvas.addEventListener("mousemove", onHover);
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  canvas.addEventListener("wheel", onWheel, { passive: false });
  root.addEventListener("keydown", onKey);
  player.style.width = (model.get("width") || 900) + "px";

  const onData = () => { readView(); fullRender(); };
  const onDraw = () => draw();
  const listeners = [["change:lanes change:segments change:duration change:width change:flagged", onData],
                     ["change:view", () => { readView(); draw(); }], ["change:selected change:playhead", onDraw],
                     ["change:playing", onPlaying], ["change:video_url", onVideo]];
  for (const [events, f] of listeners) model.on(events, f);
  onVideo();
  readView();
  fullRender();
  return () => {
    for (const [events, f] of listeners) model.off(events, f);
    window.removeEventListener("mousemove", onDragMove);
    window.removeEventListener("mouseup", onUp);
    player.pause();
  };
}

export default { render };
