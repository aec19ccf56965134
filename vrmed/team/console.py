"""The instructor console: one self-contained page served by the team server at ``/``.

It logs in over the session's WebSocket with the instructor password, then shows the live
patient state (the scenario's ``settings.team.watch`` entities), the event timeline with
who acted, the team's presence, and lets the instructor change the rhythm (the scenario's
``inject_rhythm`` action, recorded like every action), deteriorate a vital sign (a step or a
trend), start an equipment failure and add a declared casualty at a position (``inject``
messages, :mod:`vrmed.team.inject`),
pause/resume, issue role tokens and annotate moments for the debrief (kept in the session
log's header). No external scripts or styles.
"""

from __future__ import annotations

CONSOLE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vrmed instructor console</title>
<style>
body{font-family:sans-serif;margin:1em;background:#f4f6f8}
section{background:#fff;padding:.6em 1em;margin:.5em 0;border-radius:6px}
#timeline{max-height:22em;overflow:auto;font-family:monospace;font-size:12px}
table td{padding:0 .6em}
</style></head><body>
<h1>vrmed instructor console</h1>
<section id="login-box"><form id="login"><label>Instructor password
<input id="password" type="password" autocomplete="current-password"></label>
<button id="login-btn" type="submit">Log in</button></form><p id="login-error"></p></section>
<div id="main" hidden>
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
<button id="add-casualty">Add casualty</button><br>
<input id="note" placeholder="annotation for the debrief"><button id="annotate">Annotate</button>
<select id="token-role"></select><button id="issue">Issue token</button> <code id="token"></code></section>
<section><h3>Patient</h3><table id="vitals"></table></section>
<section><h3>Timeline</h3><div id="timeline"></div></section>
</div>
<script>
"use strict";
let ws, seq = 0, t = 0;
const $ = (id) => document.getElementById(id);
function line(text) {
  const d = document.createElement("div"); d.textContent = text; $("timeline").prepend(d);
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
      if (e.type === "CasualtyAdded") {  // it can now deteriorate too
        const o = document.createElement("option");
        o.value = o.textContent = e.data.casualty; $("det-entity").append(o);
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
$("pause").onclick = () => send({type: "command", command: "session.pause"});
$("resume").onclick = () => send({type: "command", command: "session.resume"});
$("issue").onclick = () => send({type: "issue", role: $("token-role").value});
$("annotate").onclick = () => { send({type: "annotate", text: $("note").value}); $("note").value = ""; };
</script></body></html>
"""
