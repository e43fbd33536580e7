// reid-pipeline report: renders the JSON of <script id="report-data"> (pipeline/export/report/data.py).
// Vanilla JS, no network: works from file://.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  };
  const clock = (s) => {
    if (s === null || s === undefined) return "?";
    const c = Math.round(s * 10), h = Math.floor(c / 36000), m = Math.floor((c % 36000) / 600), r = (c % 600) / 10;
    return (h ? h + ":" : "") + String(m).padStart(2, "0") + ":" + r.toFixed(1).padStart(4, "0");
  };
  const T = D.tracklets, IDS = D.identities, CAMS = D.cameras;
  const byGid = new Map(IDS.map((c) => [c.gid, c]));
  const colour = (gid) => (byGid.get(gid) || {}).colour || "#888";
  const duration = Math.max(D.settings.duration_s || 0, 0.001);
  const state = { cams: new Set(CAMS.map((c) => c.cam_id)), from: 0, to: duration, multi: false, page: 0 };

  // ---- run summary ----
  const s = D.summary;
  $("headline").textContent =
    `${CAMS.length} camera(s), ${IDS.length} identities (${IDS.filter((c) => c.cams.length > 1).length} seen by ` +
    `more than one camera), ${T.length} tracklets` + (s ? ` (run on ${s.device})` : "") +
    (D.complete === false ? " — INCOMPLETE: the run stopped before its sources ended" : "");
  const camBody = $("cameras").tBodies[0];
  for (const c of CAMS) {
    const skipped = s && s.skipped ? s.skipped[c.cam_id] : null;
    const gaps = (c.gaps || []).map((g) => `${clock(g.t_from_s)}–${clock(g.t_to_s)} ${g.reason || ""}`).join("; ");
    camBody.append(el("tr", {},
      el("td", {}, c.cam_id), el("td", { title: c.source }, c.source),
      el("td", {}, c.width && c.height ? `${c.width}×${c.height}` : "?"),
      el("td", { class: "num" }, c.fps ? c.fps.toFixed(2) : "?"),
      el("td", { class: "num" }, clock(c.duration_s)),
      el("td", { class: "num" }, c.num_frames === null ? "?" : String(c.num_frames)),
      el("td", { class: "num" }, `${c.frames_dropped ?? 0} / ${skipped ?? 0}`),
      el("td", {}, gaps || "none"),
      el("td", {}, c.video ? el("a", { href: c.video }, "mp4") : "—")));
  }
  if (s) {
    const t = el("table", { id: "stages" }, el("thead", {}, el("tr", {}, el("th", {}, "stage"),
      el("th", { class: "num" }, "time (s)"), el("th", { class: "num" }, "frames/s of the stage"))));
    const b = el("tbody");
    for (const [stage, sec] of Object.entries(s.stage_s)) {
      const f = s.stage_fps[stage];
      b.append(el("tr", {}, el("td", {}, stage), el("td", { class: "num" }, sec.toFixed(2)),
        el("td", { class: "num" }, f === null || f === undefined ? "—" : f.toFixed(0))));
    }
    t.append(b);
    const total = Object.values(s.frames).reduce((a, b) => a + b, 0);
    $("stages-box").append(el("h3", {}, "Stage speeds"), t, el("p", { class: "hint" },
      `frames/s of a stage = frames of all cameras (${total}) ÷ that stage's own time (stages overlap on ` +
      `threads, so the slowest stage bounds the end-to-end rate). ` +
      (s.wall_s ? `End to end: ${(total / s.wall_s).toFixed(1)} frames/s over ${s.wall_s.toFixed(1)} s. ` : "") +
      `${s.tracklets} tracklets kept, ${s.tracklets_dropped} dropped as too short.`));
  }
  if (D.config) $("config").textContent = D.config; else $("config-box").hidden = true;

  // ---- filters ----
  for (const c of CAMS) {
    const box = el("input", { type: "checkbox", checked: true, "data-cam": c.cam_id });
    box.addEventListener("change", () => { box.checked ? state.cams.add(c.cam_id) : state.cams.delete(c.cam_id); update(true); });
    $("f-cams").append(el("label", {}, box, " " + c.cam_id));
  }
  $("f-from").value = 0; $("f-to").value = Math.ceil(duration);
  const readRange = () => {
    const a = parseFloat($("f-from").value), b = parseFloat($("f-to").value);
    state.from = isFinite(a) ? Math.max(0, a) : 0;
    state.to = isFinite(b) && b > state.from ? b : Math.max(duration, state.from + 1);
    update(true);
  };
  $("f-from").addEventListener("change", readRange); $("f-to").addEventListener("change", readRange);
  $("f-multi").addEventListener("change", () => { state.multi = $("f-multi").checked; update(true); });
  const showTracklet = (t) =>
    state.cams.has(t.cam_id) && t.t_end_s >= state.from && t.t_start_s <= state.to &&
    (!state.multi || byGid.get(t.gid).cams.length > 1);
  const showCard = (c) => c.tracklets.some((i) => showTracklet(T[i]));

  // ---- video player ----
  const video = $("video");
  function openVideo(camId, t, gid) {
    const cam = CAMS.find((c) => c.cam_id === camId);
    $("player").hidden = false;
    $("player-title").textContent = `${camId} at ${clock(t)}` + (gid !== undefined ? ` — id ${gid}` : "");
    if (!cam || !cam.video) {
      video.hidden = true; video.removeAttribute("src");
      $("player-note").textContent = "No annotated video for this camera (live source, or report written without videos).";
      return;
    }
    video.hidden = false; $("player-note").textContent = "";
    const seek = () => { video.currentTime = Math.max(0, t); };
    if (video.getAttribute("src") !== cam.video) {
      video.setAttribute("src", cam.video);
      video.addEventListener("loadedmetadata", seek, { once: true });
      video.load();
    } else seek();
  }
  $("player-close").addEventListener("click", () => { video.pause(); $("player").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("player-close").click(); });

  // ---- timeline ----
  const tip = $("tip");
  const ROW_PX = 12, LANE_MAX_PX = 220;
  const lanes = new Map();
  for (const c of CAMS) {
    const track = el("div", { class: "lane-track" });
    lanes.set(c.cam_id, track);
    $("timeline").append(el("div", { class: "lane", "data-cam": c.cam_id }, el("div", { class: "lane-label" }, c.cam_id), track));
  }
  // tracklets that overlap in time take separate rows of their camera's lane (first free row)
  const rowOf = new Array(T.length), rowEnds = new Map();
  T.map((t, i) => i).sort((a, b) => T[a].t_start_s - T[b].t_start_s).forEach((i) => {
    const ends = rowEnds.get(T[i].cam_id) || [];
    let r = ends.findIndex((end) => end < T[i].t_start_s);
    if (r < 0) { r = ends.length; ends.push(0); }
    ends[r] = T[i].t_end_s; rowEnds.set(T[i].cam_id, ends); rowOf[i] = r;
  });
  // a busy camera gets thinner rows, so that its lane stays under ~LANE_MAX_PX high
  const rowPx = new Map();
  for (const [cam, track] of lanes) {
    const rows = Math.max(1, (rowEnds.get(cam) || []).length);
    rowPx.set(cam, Math.max(4, Math.min(ROW_PX, Math.floor(LANE_MAX_PX / rows))));
    track.parentElement.style.height = rowPx.get(cam) * rows + 6 + "px";
  }
  const bars = T.map((t, i) => {
    const px = rowPx.get(t.cam_id) || ROW_PX;
    const b = el("div", { class: "bar", "data-gid": String(t.gid), "data-i": String(i),
      style: `background:${colour(t.gid)};top:${3 + rowOf[i] * px}px;height:${Math.max(px - 2, 3)}px` });
    (lanes.get(t.cam_id) || lanes.values().next().value).append(b);
    return b;
  });
  let lit = [];
  const light = (gid) => {
    for (const b of lit) b.classList.remove("hl");
    lit = gid === null ? [] : bars.filter((b) => b.dataset.gid === String(gid));
    for (const b of lit) b.classList.add("hl");
  };
  $("timeline").addEventListener("mouseover", (e) => {
    const b = e.target.closest(".bar"); if (!b) return;
    const t = T[+b.dataset.i];
    tip.textContent = `id ${t.gid} · ${t.cam_id} track ${t.track_id} · ${clock(t.t_start_s)}–${clock(t.t_end_s)}`;
    tip.hidden = false; light(t.gid);
  });
  $("timeline").addEventListener("mousemove", (e) => { tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px"; });
  $("timeline").addEventListener("mouseout", (e) => { if (e.target.closest(".bar")) { tip.hidden = true; light(null); } });
  $("timeline").addEventListener("click", (e) => {
    const b = e.target.closest(".bar"); if (!b) return;
    const t = T[+b.dataset.i];
    const track = b.parentElement.getBoundingClientRect();
    const at = state.from + ((e.clientX - track.left) / track.width) * (state.to - state.from);
    openVideo(t.cam_id, Math.min(Math.max(at, t.t_start_s), t.t_end_s), t.gid);
  });
  function drawTimeline() {
    const span = state.to - state.from;
    $("axis").replaceChildren();
    for (let k = 0; k <= 10; k++) $("axis").append(el("span", { style: `left:${k * 10}%` }, clock(state.from + (span * k) / 10)));
    for (const c of CAMS) lanes.get(c.cam_id).parentElement.hidden = !state.cams.has(c.cam_id);
    T.forEach((t, i) => {
      const b = bars[i];
      if (!showTracklet(t)) { b.hidden = true; return; }
      const a = Math.max(t.t_start_s, state.from), z = Math.min(t.t_end_s, state.to);
      b.hidden = false;
      b.style.left = ((a - state.from) / span) * 100 + "%";
      b.style.width = Math.max(((z - a) / span) * 100, 0.15) + "%";
      b.title = `id ${t.gid}`;
    });
  }

  // ---- identity cards, paged ----
  const perPage = D.settings.cards_per_page;
  function card(c) {
    const head = el("div", { class: "card-head" }, el("span", { class: "swatch", style: `background:${c.colour}` }),
      el("b", {}, `id ${c.gid}`), el("span", { class: "card-cams" }, c.cams.join(", ")));
    if (c.low_margin) head.append(el("span", { class: "badge low-margin", title: "a link of this identity barely beat the association threshold" }, "low-margin link"));
    const node = el("div", { class: "card", "data-gid": String(c.gid) }, head);
    for (const p of c.per_camera) {
      const crops = el("div", { class: "crops" });
      for (const src of p.crops) crops.append(el("img", { loading: "lazy", src, alt: `id ${c.gid} in ${p.cam_id}` }));
      node.append(el("div", { class: "percam" }, el("div", { class: "percam-head" }, `${p.cam_id}: first ${clock(p.t_first_s)}, last ${clock(p.t_last_s)}`), crops));
    }
    const links = el("ul", { class: "links" });
    for (const i of c.tracklets) {
      const t = T[i];
      let what = "starts the identity";
      if (t.link) {
        what = `linked, P(same) ${t.link.score.toFixed(3)}` + (t.link.margin_logodds === null ? "" : `, margin ${t.link.margin_logodds >= 0 ? "+" : ""}${t.link.margin_logodds.toFixed(2)} log-odds`);
      } else if (c.tracklets.indexOf(i) > 0) what = "linked (score not recorded)";
      const li = el("li", { "data-i": String(i), title: "open the annotated video here" }, `${t.cam_id} track ${t.track_id}, ${clock(t.t_start_s)}–${clock(t.t_end_s)}: ${what} `);
      if (t.link && t.link.low) li.append(el("span", { class: "badge low-margin" }, "low margin"));
      li.addEventListener("click", () => openVideo(t.cam_id, t.t_start_s, t.gid));
      links.append(li);
    }
    node.append(links);
    return node;
  }
  let shown = IDS;
  function drawCards() {
    const pages = Math.max(1, Math.ceil(shown.length / perPage));
    state.page = Math.min(state.page, pages - 1);
    $("cards").replaceChildren(...shown.slice(state.page * perPage, (state.page + 1) * perPage).map(card));
    $("page-info").textContent = `page ${state.page + 1} of ${pages} (${shown.length} identities)`;
    $("prev").disabled = state.page === 0; $("next").disabled = state.page >= pages - 1;
  }
  $("prev").addEventListener("click", () => { state.page--; drawCards(); });
  $("next").addEventListener("click", () => { state.page++; drawCards(); });

  // ---- transitions, unlinked and short tracklets ----
  const tb = $("transitions").tBodies[0];
  for (const r of D.transitions) tb.append(el("tr", {}, el("td", {}, r.from), el("td", {}, r.to), el("td", { class: "num" }, String(r.count)), el("td", { class: "num" }, `${r.median_transit_s.toFixed(1)} s`)));
  if (!D.transitions.length) tb.append(el("tr", {}, el("td", { colSpan: 4 }, "no identity was seen in two cameras")));
  $("short-note").textContent = `(shorter than ${D.settings.short_tracklet_s} s)`;
  function drawList(id, indices) {
    const body = $(id).tBodies[0];
    const rows = indices.filter((i) => showTracklet(T[i])).map((i) => {
      const t = T[i];
      const tr = el("tr", { "data-i": String(i) }, el("td", {}, el("span", { class: "swatch", style: `background:${colour(t.gid)}` }), ` id ${t.gid}`),
        el("td", {}, t.cam_id), el("td", { class: "num" }, String(t.track_id)), el("td", {}, clock(t.t_start_s)), el("td", {}, clock(t.t_end_s)),
        el("td", { class: "num" }, `${(t.t_end_s - t.t_start_s).toFixed(1)} s`));
      tr.addEventListener("click", () => openVideo(t.cam_id, t.t_start_s, t.gid));
      return tr;
    });
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: 6 }, "none"))]));
  }

  function update(resetPage) {
    if (resetPage) state.page = 0;
    shown = IDS.filter(showCard);
    $("f-count").textContent = `${shown.length} of ${IDS.length} identities shown`;
    drawTimeline(); drawCards(); drawList("unlinked", D.unlinked); drawList("short", D.short);
  }
  update(true);
  document.body.dataset.ready = "1";
})();
