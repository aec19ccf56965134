"""The instructor console: one self-contained page served by the team server at ``/``.

It logs in over the session's WebSocket with the instructor password, then shows the live
patient state (the scenario's ``settings.team.watch`` entities), the event timeline with
who acted, the team's presence, and lets the instructor change the rhythm (the scenario's
``inject_rhythm`` action, recorded like every action), deteriorate a vital sign (a step or a
trend), start an equipment failure and add a declared casualty at a position (``inject``
messages, :mod:`vrmed.team.inject`),
remove an added casualty (transferred or discharged), pause/resume, issue role tokens and
annotate moments for the debrief (kept in the session log's header). Voice call-outs appear
on the timeline with an audio player for the stored clip.

The Debrief tab replays the session (live or ended) with every member's view: a timeline
(scrubber, play/pause, frame steps, the annotations and key events as marks to jump to),
each member's view at the chosen time drawn from their recorded head pose, the watched
entities' state and the events of the last seconds there, and every voice call-out with its
clip. The server renders the views in a worker process (:class:`vrmed.team.debrief.DebriefPlayer`);
the page fetches them over HTTP with the key the login returned (``Authorization: Bearer``,
or ``?key=`` for image and audio sources). No external scripts or styles.
"""

from __future__ import annotations

CONSOLE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vrmed instructor console</title>
<style>
body{font-family:sans-serif;margin:1em;background:#f4f6f8}
section{background:#fff;padding:.6em 1em;margin:.5em 0;border-radius:6px}
#timeline{max-height:22em;overflow:auto;font-family:monospace;font-size:12px}
table td{padding:0 .6em}
nav button{font-size:1.1em}
#db-views{display:flex;flex-wrap:wrap;gap:.5em}
#db-views figure{margin:0}
#db-views img{border:1px solid #999;max-width:100%}
#db-marks button{font-size:11px;margin:1px}
#db-scrub{width:60%}
audio{height:2em;vertical-align:middle}
</style></head><body>
<h1>vrmed instructor console</h1>
<section id="login-box"><form id="login"><label>Instructor password
<input id="password" type="password" autocomplete="current-password"></label>
<button id="login-btn" type="submit">Log in</button></form><p id="login-error"></p></section>
<div id="main" hidden>
<nav><button id="tab-live">Live</button> <button id="tab-debrief">Debrief</button></nav>
<div id="live">
<section><b>Time</b> <span id="time">0</span> s &middot; <b>Rhythm</b> <span id="rhythm">?</span>
&middot; <b>HR</b> <span id="hr">?</span> &middot; <span id="status"></span></section>
<section><h3>Inject</h3>
<button id="rhythm-vf" data-rhythm="vf">VF</button>
<button id="rhythm-pea" data-rhythm="pea">PEA</button>
<button id="rhythm-asystole" data-rhythm="asystole">Asystole</button>
<button id="pause">Pause</button><button id="resume">Resume</button><br>
<select id="det-entity"></select><select id="det-var"><option>spo2</option><option>hr</option>
<option>sbp</option><option>rr</option><option>bleed_ml_per_min</option></select>
to <input id="det-to" type="number" value="85" size="5"> over <input id="det-over" type="number" value="60" size="4"> s
<button id="deteriorate">Deteriorate</button><br>
<select id="failure"></select> for <input id="fail-s" type="number" value="30" size="4"> s
<button id="fail">Fail equipment</button><br>
<select id="casualty"></select> at x <input id="cas-x" type="number" value="1.5" step="0.1" size="4">
y <input id="cas-y" type="number" value="0.1" step="0.1" size="4">
z <input id="cas-z" type="number" value="1.0" step="0.1" size="4"> m
<button id="add-casualty">Add casualty</button>
<select id="remove-which"></select><select id="disposition"><option>transferred</option>
<option>discharged</option></select><button id="remove-casualty">Remove casualty</button><br>
<input id="note" placeholder="annotation for the debrief"><button id="annotate">Annotate</button>
<select id="token-role"></select><button id="issue">Issue token</button> <code id="token"></code></section>
<section><h3>Patient</h3><table id="vitals"></table></section>
<section><h3>Timeline</h3><div id="timeline"></div></section>
</div>
<div id="debrief" hidden>
<section><button id="db-play">Play</button> <button id="db-back">&#9664; frame</button>
<button id="db-fwd">frame &#9654;</button> <input id="db-scrub" type="range" min="0" max="0" step="0.05" value="0">
<b><span id="db-time">0.00</span> s</b> <button id="db-reload">Refresh</button> <span id="db-status"></span>
<div id="db-marks"></div></section>
<section><h3>Every member's view</h3><div id="db-views"></div></section>
<section><h3>Patient at that time</h3><table id="db-vitals"></table>
<h3>Events (the last 10 s)</h3><div id="db-events"></div></section>
<section><h3>Voice call-outs</h3><div id="db-voice"></div></section>
</div>
</div>
<script>
"use strict";
let ws, seq = 0, t = 0, key = "";
const $ = (id) => document.getElementById(id);
function line(text) {
  const d = document.createElement("div"); d.textContent = text; $("timeline").prepend(d); return d;
}
function player(sha) {  // the stored clip, fetched with the login's key (an audio source sends no header)
  const a = document.createElement("audio");
  a.controls = true; a.preload = "none"; a.src = "/voice/" + sha + ".wav?key=" + encodeURIComponent(key);
  return a;
}
function option(id, value, add) {
  for (const o of Array.from($(id).options)) if (o.value === value) o.remove();
  if (add) { const o = document.createElement("option"); o.value = o.textContent = value; $(id).append(o); }
}
$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(proto + "://" + location.host + "/ws");
  ws.onopen = () => ws.send(JSON.stringify({v: 1, type: "login", password: $("password").value}));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "error") { $("login-error").textContent = msg.message; return; }
    if (msg.type === "welcome") {
      key = msg.key || "";
      $("login-box").hidden = true; $("main").hidden = false;
      const fill = (id, entries) => {
        for (const [v, label] of entries) {
          const o = document.createElement("option"); o.value = v; o.textContent = label; $(id).append(o);
        }
      };
      fill("token-role", Object.keys(msg.roles).map((r) => [r, r]));
      fill("det-entity", (msg.watch || []).map((e) => [e, e]));
      fill("failure", Object.entries(msg.failures || {}));
      fill("casualty", Object.entries(msg.casualties || {}));
      return;
    }
    if (msg.type !== "state") return;
    t = msg.t; $("time").textContent = msg.t.toFixed(1);
    $("status").textContent = msg.ended ? "ended: " + msg.result : (msg.paused ? "paused" : "running");
    const table = $("vitals"); table.textContent = "";
    const first = Object.keys(msg.watch || {})[0];  // the original patient heads the page
    for (const [ent, fields] of Object.entries(msg.watch || {})) {
      for (const [k, v] of Object.entries(fields)) {
        if (ent === first && k.endsWith(".rhythm")) $("rhythm").textContent = v;
        if (ent === first && k.endsWith(".hr")) $("hr").textContent = Math.round(v);
        const tr = table.insertRow();
        for (const cell of [ent, k, typeof v === "number" ? v.toFixed(2) : String(v)]) {
          tr.insertCell().textContent = cell;
        }
      }
    }
    for (const e of msg.events || []) {
      if (e.type === "Token") { $("token").textContent = e.data.role + ": " + e.data.token; continue; }
      if (e.type === "CasualtyAdded") {  // it can now deteriorate, and be removed
        option("det-entity", e.data.casualty, true); option("remove-which", e.data.casualty, true);
      }
      if (e.type === "CasualtyRemoved") {
        option("det-entity", e.data.casualty, false); option("remove-which", e.data.casualty, false);
      }
      if (e.type === "VoiceCallOut") {  // who spoke, when, how long, and the clip itself
        const d = e.data;
        line(e.t.toFixed(1) + " voice " + d.role + " " + d.client + " " + d.duration_s.toFixed(1) + " s ")
          .append(player(d.sha256));
        continue;
      }
      line(e.t.toFixed(1) + " " + e.type + " " + JSON.stringify(e.data));
    }
  };
  ws.onclose = () => { $("status").textContent = "disconnected"; };
});
const send = (msg) => ws.send(JSON.stringify(Object.assign({v: 1}, msg)));
function act(id, fields) { send({type: "input", seq: ++seq, actions: [{id: id, fields: fields}]}); }
for (const b of document.querySelectorAll("[data-rhythm]")) {
  b.onclick = () => act("inject_rhythm", {rhythm: b.dataset.rhythm});
}
$("deteriorate").onclick = () => send({type: "inject", injection: "deteriorate", entity: $("det-entity").value,
  var: $("det-var").value, to: Number($("det-to").value), over_s: Number($("det-over").value)});
$("fail").onclick = () => send({type: "inject", injection: "failure", failure: $("failure").value,
  duration_s: Number($("fail-s").value)});
$("add-casualty").onclick = () => send({type: "inject", injection: "casualty", casualty: $("casualty").value,
  position: [Number($("cas-x").value), Number($("cas-y").value), Number($("cas-z").value)]});
$("remove-casualty").onclick = () => send({type: "inject", injection: "remove_casualty",
  casualty: $("remove-which").value, disposition: $("disposition").value});
$("pause").onclick = () => send({type: "command", command: "session.pause"});
$("resume").onclick = () => send({type: "command", command: "session.resume"});
$("issue").onclick = () => send({type: "issue", role: $("token-role").value});
$("annotate").onclick = () => { send({type: "annotate", text: $("note").value}); $("note").value = ""; };

// -- debrief: the server replays the session log and draws every member's view --------------
let rate = 20, wanted = null, playing = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function api(path) {  // 503: the server is still rendering that moment; ask again
  for (let i = 0; i < 120; i++) {
    const r = await fetch(path, {headers: {Authorization: "Bearer " + key}});
    if (r.status !== 503) {
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      return body;
    }
    await sleep(500);
  }
  throw new Error("the server did not render that moment in time");
}
function showTab(debrief) {
  $("live").hidden = debrief; $("debrief").hidden = !debrief;
  if (debrief) loadTimeline();
}
$("tab-live").onclick = () => showTab(false);
$("tab-debrief").onclick = () => showTab(true);
$("db-reload").onclick = () => loadTimeline();
async function loadTimeline() {
  try {
    const tl = await api("/debrief/timeline");
    rate = tl.rate; $("db-scrub").max = tl.end_t; $("db-scrub").step = 1 / rate;
    const marks = $("db-marks"); marks.textContent = "";
    const all = tl.annotations.map((a) => [a.t, "note: " + a.text])
      .concat(tl.marks.map((m) => [m.t, m.type])).sort((a, b) => a[0] - b[0]);
    for (const [mt, label] of all) {
      const b = document.createElement("button"); b.dataset.t = mt;
      b.textContent = mt.toFixed(1) + " " + label; b.onclick = () => seek(mt); marks.append(b);
    }
    const voice = $("db-voice"); voice.textContent = "";
    for (const v of tl.voice) {
      const d = document.createElement("div"); d.className = "clip"; d.dataset.sha = v.sha256;
      d.textContent = v.t.toFixed(1) + " s " + v.role + " " + v.client + " (" + v.duration_s.toFixed(1) + " s) ";
      d.append(player(v.sha256)); voice.append(d);
    }
    $("db-status").textContent = Object.keys(tl.members).length + " members with a view; " +
      tl.end_t.toFixed(1) + " s recorded";
    if (wanted === null) $("db-status").textContent += "; pick a moment: a mark, the scrubber or Play";
  } catch (err) { $("db-status").textContent = String(err.message || err); }
}
async function seek(to) {
  wanted = Math.max(0, Math.min(Number($("db-scrub").max), to));
  $("db-scrub").value = wanted; $("db-time").textContent = wanted.toFixed(2);
  const asked = wanted;
  let st;
  try { st = await api("/debrief/state?t=" + asked); }
  catch (err) { $("db-status").textContent = String(err.message || err); return; }
  if (asked !== wanted) return;  // the instructor moved on meanwhile
  $("db-time").textContent = st.t.toFixed(2);
  $("db-status").textContent = (st.exact ? "replay exact" : "REPLAY DIFFERS FROM THE LOG") +
    " · replayed in " + st.replay_s.toFixed(2) + " s" + (st.rebuilt ? " (from the start)" : "");
  const views = $("db-views"); views.textContent = "";
  for (const c of st.views) {
    const f = document.createElement("figure"), img = document.createElement("img");
    const cap = document.createElement("figcaption");
    img.dataset.client = c; img.alt = c + "'s view";
    img.src = "/debrief/frame?t=" + st.t + "&client=" + encodeURIComponent(c) + "&key=" + encodeURIComponent(key);
    cap.textContent = c; f.append(img, cap); views.append(f);
  }
  const table = $("db-vitals"); table.textContent = "";
  for (const [ent, fields] of Object.entries(st.watch)) {
    for (const [k, v] of Object.entries(fields)) {
      const tr = table.insertRow();
      for (const cell of [ent, k, typeof v === "number" ? v.toFixed(2) : String(v)]) tr.insertCell().textContent = cell;
    }
  }
  const ev = $("db-events"); ev.textContent = "";
  for (const e of st.events) {
    const d = document.createElement("div");
    d.textContent = e.t.toFixed(2) + " " + e.type + " " + JSON.stringify(e.data); ev.prepend(d);
  }
}
$("db-scrub").onchange = () => seek(Number($("db-scrub").value));
$("db-back").onclick = () => seek((wanted || 0) - 1 / rate);
$("db-fwd").onclick = () => seek((wanted || 0) + 1 / rate);
$("db-play").onclick = async () => {  // about real time when rendering keeps up, slower when not
  playing = !playing; $("db-play").textContent = playing ? "Pause" : "Play";
  while (playing && (wanted || 0) < Number($("db-scrub").max)) {
    const t0 = performance.now();
    await seek((wanted || 0) + 0.5);
    await sleep(Math.max(0, 500 - (performance.now() - t0)));
  }
  playing = false; $("db-play").textContent = "Play";
};
</script></body></html>
"""
