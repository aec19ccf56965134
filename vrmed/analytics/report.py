"""``vrmed report SESSION``: the debrief of a recorded session, as a printable HTML page
and a terminal summary.

Everything is computed from the log (so any stored session can be debriefed again):

* the verdict, and every failed rubric rule (critical ones first) with its time and reason;
* every metric the pack scores, with its value, proficiency target, which way is better,
  the expert band (the range over expert reference sessions, ``--expert``) and pass/fail,
  written as words and symbols so the page reads the same without colour;
* instrument motion per device over the one task window the score uses (named on the page);
* speed (and force, when the log has it) over time with the session's events and the
  failed rules marked at their times;
* the instrument paths seen from above and from the side, in millimetres on equal axes,
  with the task geometry the scenario declares (work surfaces, placed objects);
* a clean, time-ordered timeline, and a comparison with the learner's previous attempts.

Figures are drawn by matplotlib (Agg backend, SVG output inlined in the page: sharp when
printed). Lines differ by dash pattern and marker as well as colour, for grey-scale print
and colour-blind readers. Print the page to PDF from any browser (a print style sheet
hides nothing and avoids page breaks inside figures and table rows).
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..recording import SessionLog
from ..records.scoring import pack_for_log, score_log
from ..scenario.scorecard import rubric_lines, rule_status, target_lines
from .motion import (
    IDLE_SPEED,
    Track,
    bimanual_dexterity,
    filter_track,
    input_samples,
    motion_metrics,
    tracks_from_log,
)

#: Line styles per device: (colour, dash pattern, marker); distinct without colour.
_STYLES = (
    ("#1f4e79", "-", "o"),
    ("#b23a00", "--", "s"),
    ("#2e6b30", ":", "^"),
    ("#5b3a8c", "-.", "D"),
)
#: Events that are bookkeeping, not something the learner did (left out of the timeline).
_QUIET = ("EndoscopeView",)
#: Metrics that describe the window itself, not the performance.
_WINDOW_KEYS = ("motion_window_start_s", "motion_window_end_s")


@dataclass
class MetricRow:
    """One metric of the debrief table."""

    name: str
    value: float
    target: float | None = None
    direction: str | None = None  # "lower" | "higher" | None (the pack did not say)
    band: tuple[float, float] | None = None  # expert range
    previous: list[float] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``-`` (no target, or no direction declared)."""
        if self.target is None or self.direction not in ("lower", "higher"):
            return "-"
        ok = self.value <= self.target if self.direction == "lower" else self.value >= self.target
        return "pass" if ok else "fail"


@dataclass
class Report:
    """What a debrief shows (see the module docstring)."""

    header: dict[str, Any]
    metrics: list[dict[str, Any]]
    bimanual: float | None
    score: dict[str, Any] | None
    events: list[dict[str, Any]]
    tracks: dict[str, Track]
    window: tuple[float, float] | None = None
    rows: list[MetricRow] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    geometry: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    previous: list[str] = field(default_factory=list)  # labels of previous attempts, oldest first
    forces: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def build_report(
    log: SessionLog,
    devices: list[str] | None = None,
    pack_path: Path | None = None,
    *,
    allow_code: bool = True,
    previous: list[SessionLog] | None = None,
    expert: list[SessionLog] | None = None,
) -> Report:
    """Compute the debrief from a session log (its pack found by name, or at ``pack_path``;
    never a folder the log names). ``previous``: the learner's earlier logs of the same
    scenario, oldest first; ``expert``: expert reference logs whose metric range is the band."""
    score: dict[str, Any] | None = None
    pack = None
    try:
        pack = pack_for_log(log, pack_path=pack_path, allow_code=allow_code)
        score = score_log(log, pack).to_dict()
    except Exception as exc:  # a pack without score(log), or one that cannot be loaded
        score = {"unavailable": str(exc)}
    metrics_in = (score or {}).get("metrics") or {}
    window = None
    if all(k in metrics_in for k in _WINDOW_KEYS):
        window = (float(metrics_in[_WINDOW_KEYS[0]]), float(metrics_in[_WINDOW_KEYS[1]]))
    t0, t1 = window if window else (0.0, None)
    tracks = {n: t for n, t in tracks_from_log(log, devices, t0=t0, t1=t1).items() if t.t.shape[0] >= 2}
    metrics = [motion_metrics(t).as_dict() for t in tracks.values()]
    bimanual = None
    if "left_hand" in tracks and "right_hand" in tracks:
        bimanual = bimanual_dexterity(tracks["left_hand"], tracks["right_hand"])
    rows: list[MetricRow] = []
    findings: list[dict[str, Any]] = []
    labels: list[str] = []
    if score and "unavailable" not in score:
        history = [_score_quietly(p, pack) for p in previous or []]
        labels = [str(p.header.get("recorded_at", ""))[:16].replace("T", " ") for p in previous or []]
        experts = [m for m in (_score_quietly(e, pack) for e in expert or []) if m]
        targets, directions = score.get("targets") or {}, score.get("directions") or {}
        for name, value in metrics_in.items():
            if name in _WINDOW_KEYS or not isinstance(value, (int, float)):
                continue
            vals = [float(m[name]) for m in experts if isinstance(m.get(name), (int, float))]
            rows.append(
                MetricRow(
                    name,
                    float(value),
                    float(targets[name]) if name in targets else None,
                    directions.get(name),
                    (min(vals), max(vals)) if vals else None,
                    [float(h[name]) if isinstance(h.get(name), (int, float)) else math.nan for h in history],
                )
            )
        # targeted metrics first (what the learner is judged on), failures first among them
        rows.sort(key=lambda r: (r.target is None, r.status != "fail", r.name))
        findings = _findings(score.get("rubric"))
    title = ""
    if pack is not None:
        sc = getattr(pack, "scenarios", {}).get(str(log.header.get("scenario")))
        title = str(getattr(sc, "title", "") or "")
    return Report(
        log.header,
        metrics,
        bimanual,
        score,
        log.events,
        tracks,
        window,
        rows,
        findings,
        _geometry(pack, str(log.header.get("scenario"))),
        title,
        labels,
        _forces(log, t0, t1),
    )


def _score_quietly(log: SessionLog, pack: Any) -> dict[str, Any]:
    try:
        return dict(score_log(log, pack).metrics)
    except Exception:  # an unscorable earlier log shows as gaps, not as a failed debrief
        return {}


def _findings(rubric: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Unmet rubric rules, critical first then by time, with their reasons."""
    if not rubric:
        return []
    out = []
    for r in rubric.get("rules", []):
        status = rule_status(r)
        if status == "met":
            continue
        t = r.get("t")
        if t is None:
            times = [v.get("t") for v in r.get("violations") or [] if isinstance(v, dict) and v.get("t") is not None]
            t = times[0] if times else None
        out.append(
            {
                "id": str(r.get("id")),
                "status": status,
                "critical": bool(r.get("critical")),
                "t": None if t is None else float(t),
                "reason": str(r.get("detail") or r.get("description") or ""),
                "points": r.get("points"),
            }
        )
    out.sort(key=lambda f: (not f["critical"], f["status"] != "missed", f["t"] is None, f["t"] or 0.0))
    return out


def _geometry(pack: Any, scenario: str) -> list[dict[str, Any]]:
    """Task geometry the scenario declares: work surfaces (outline) and positioned entities."""
    sc = getattr(pack, "scenarios", {}).get(scenario) if pack is not None else None
    out: list[dict[str, Any]] = []
    for ent in getattr(sc, "entities", None) or []:
        comps = getattr(ent, "components", {}) or {}
        for cname, decl in comps.items():
            f = getattr(decl, "fields", {}) or {}
            if cname == "WorkSurface" and {"origin", "u", "v", "size"} <= set(f):
                o, u, v = (np.asarray(f[k], float) for k in ("origin", "u", "v"))
                w, h = (float(x) for x in f["size"])
                corners = [o + a * w / 2 * u + b * h / 2 * v for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))]
                out.append({"kind": "surface", "name": ent.name, "points": np.array(corners)})
            elif cname == "Transform" and isinstance(f.get("position"), (list, tuple)) and len(f["position"]) == 3:
                out.append({"kind": "point", "name": ent.name, "points": np.asarray([f["position"]], float)})
    return out


def _forces(log: SessionLog, t0: float, t1: float | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """|force| (N) per device, when the log's input samples carry ``force``."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for t, sample in input_samples(log, t0, t1):
        for name, data in sample.items():
            f = data.get("force") if isinstance(data, dict) else None
            if isinstance(f, (list, tuple)) and f and all(isinstance(x, (int, float)) for x in f):
                ts, fs = series.setdefault(name, ([], []))
                ts.append(t)
                fs.append(float(np.linalg.norm(f)))
            elif isinstance(f, (int, float)) and not isinstance(f, bool):
                ts, fs = series.setdefault(name, ([], []))
                ts.append(t)
                fs.append(abs(float(f)))
    return {n: (np.array(ts), np.array(fs)) for n, (ts, fs) in series.items()}


# --- timeline -------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return "0" if abs(value) < 1e-9 else f"{value:.3g}"  # solver round-off is not information
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value[:6]) + (", ..." if len(value) > 6 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in list(value.items())[:6]) + "}"
    return str(value)


def timeline(report: Report, limit: int = 2000) -> list[tuple[float, str, str]]:
    """(t, what, details) of every event and every failed rule, in time order; event data
    as ``key=value`` with numbers to three significant digits."""
    items: list[tuple[float, int, str, str]] = []
    for i, e in enumerate(report.events):
        kind = str(e.get("type", "")).rsplit(":", 1)[-1]
        if kind in _QUIET:
            continue
        data = e.get("data") or {}
        detail = ", ".join(f"{k}={_short(v)}" for k, v in data.items()) if isinstance(data, dict) else _short(data)
        items.append((float(e["t"]), i, kind, detail))
    for f in report.findings:
        if f["t"] is not None:
            what = f"rule {'missed' if f['status'] == 'missed' else 'not applicable'}: {f['id']}"
            items.append((f["t"], len(report.events), what + (" (critical)" if f["critical"] else ""), f["reason"]))
    items.sort(key=lambda x: (x[0], x[1]))
    return [(t, what, detail) for t, _, what, detail in items[:limit]]


# --- figures --------------------------------------------------------------------------


def _pyplot() -> Any:
    # deferred: matplotlib takes ~0.5 s to import; only the debrief and the dashboard draw
    import matplotlib

    matplotlib.use("Agg")
    # deferred: after selecting the non-interactive backend above
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _event_marks(report: Report) -> list[tuple[float, str, bool]]:
    """(t, label, is_failure) to draw on time axes: task events (labelled when their kind
    occurs at most six times, so milestones stay readable; frequent ones get a tick only)
    and failed rules."""
    kinds = [str(e.get("type", "")).rsplit(":", 1)[-1] for e in report.events]
    counts = {k: kinds.count(k) for k in set(kinds)}
    marks = [
        (float(e["t"]), k if counts[k] <= 6 else "", False) for e, k in zip(report.events, kinds) if k not in _QUIET
    ]
    marks += [(f["t"], f"✗ {f['id']}", True) for f in report.findings if f["t"] is not None]
    return marks


def speed_figure(report: Report) -> str:
    """Filtered speed (and force) over time per device, events and failed rules marked."""
    if not report.tracks:
        return ""
    plt = _pyplot()
    rows = 2 if report.forces else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9.5, 3.2 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    for i, (name, tr) in enumerate(report.tracks.items()):
        f = filter_track(tr)
        color, dash, marker = _STYLES[i % len(_STYLES)]
        every = max(1, f.t.shape[0] // 12)
        ax.plot(f.t, f.speed, color=color, linestyle=dash, marker=marker, markevery=every, ms=4, lw=1.3, label=name)
    ax.axhline(IDLE_SPEED, color="0.4", lw=0.8, linestyle=(0, (1, 2)), label=f"idle threshold {IDLE_SPEED:g} m/s")
    ax.set_ylabel("speed (m/s), 6 Hz low-pass")
    if report.forces:
        fax = axes[1, 0]
        for i, (name, (ts, fs)) in enumerate(report.forces.items()):
            color, dash, marker = _STYLES[i % len(_STYLES)]
            fax.plot(ts, fs, color=color, linestyle=dash, lw=1.2, label=name)
        fax.set_ylabel("force (N)")
    for a in axes[:, 0]:
        a.grid(True, color="0.88", lw=0.6)
        top = a.get_ylim()[1]
        for t, label, bad in _event_marks(report):
            if not label:  # a frequent event: a tick on the time axis
                a.plot([t], [0], marker="|", color="0.45", ms=6, clip_on=False)
                continue
            a.axvline(t, color="#a00000" if bad else "0.55", lw=1.1 if bad else 0.6, linestyle="-" if bad else "--")
            if a is axes[0, 0]:
                a.text(
                    t, top, label, rotation=90, va="top", ha="right", fontsize=6.5, color="#a00000" if bad else "0.25"
                )
        if report.window:
            a.axvspan(*report.window, color="0.93", zorder=0, label="task window")
    axes[-1, 0].set_xlabel("time since session start (s)")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    return _svg(fig)


def path_figure(report: Report) -> str:
    """Instrument paths from above (x-z) and from the side (x-y), in mm on equal axes, with
    the scenario's work surfaces and placed objects."""
    if not report.tracks:
        return ""
    plt = _pyplot()
    fig, (top, side) = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, (i, j), title in ((top, (0, 2), "from above (x-z)"), (side, (0, 1), "from the side (x-y)")):
        for g in report.geometry:
            p = g["points"] * 1000.0
            if g["kind"] == "surface":
                ax.plot(p[:, i], p[:, j], color="0.3", lw=1.0, linestyle="-")
                ax.fill(p[:, i], p[:, j], color="0.94", zorder=0)
            else:
                ax.plot(p[:, i], p[:, j], marker="+", color="0.35", ms=7, linestyle="none")
                ax.annotate(
                    g["name"], (p[0, i], p[0, j]), fontsize=6, color="0.35", xytext=(3, 3), textcoords="offset points"
                )
        for k, (name, tr) in enumerate(report.tracks.items()):
            color, dash, marker = _STYLES[k % len(_STYLES)]
            p = filter_track(tr).p * 1000.0
            ax.plot(p[:, i], p[:, j], color=color, linestyle=dash, lw=1.2, label=name)
            ax.plot(p[0, i], p[0, j], marker=marker, color=color, ms=6, linestyle="none")
            ax.plot(p[-1, i], p[-1, j], marker=marker, color=color, mfc="white", ms=6, linestyle="none")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("z (mm)" if j == 2 else "y (mm, up)")
        if j == 2:
            ax.invert_yaxis()  # -z is away from the learner: far side at the top
        ax.set_title(title, fontsize=9)
        ax.grid(True, color="0.88", lw=0.6)
    top.legend(fontsize=7, loc="best", title="filled: start, open: end", title_fontsize=6.5)
    return _svg(fig)


def history_figure(report: Report) -> str:
    """The targeted metrics over the learner's previous attempts and this one."""
    rows = [r for r in report.rows if r.previous and r.target is not None][:4]
    if not rows:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 2.8), squeeze=False)
    for ax, r in zip(axes[0], rows):
        y = [*r.previous, r.value]
        n = np.arange(1, len(y) + 1)
        ax.plot(n, y, color="#1f4e79", marker="o", lw=1.2)
        ax.plot(n[-1], y[-1], marker="*", color="#1f4e79", ms=11, linestyle="none")
        ax.axhline(r.target, color="#a00000", linestyle="--", lw=1, label="target")
        if r.band:
            ax.axhspan(*r.band, color="0.9", label="expert band")
        ax.set_title(r.name, fontsize=8)
        ax.set_xlabel("attempt")
        ax.set_xticks(n)
        ax.grid(True, color="0.88", lw=0.6)
    axes[0, 0].legend(fontsize=6.5)
    return _svg(fig)


# --- HTML -----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1000px;color:#111;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:3px 8px;font-size:13px;text-align:left}
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
.fail{font-weight:bold}.verdict{font-size:1.2em;border:2px solid #111;padding:.4em .8em;display:inline-block}
figure{margin:.5em 0}figcaption{font-size:12px;color:#333}svg{max-width:100%;height:auto}
@media print{body{margin:0;max-width:none}figure,tr{break-inside:avoid}h2{break-after:avoid}}
"""


def format_value(v: Any) -> str:
    """A value as report tables show it: ``-`` for none or NaN, a float to 4 significant
    digits, anything else as ``str`` gives it (the HTML and text reports and the dashboard)."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def render_html(report: Report) -> str:
    """The debrief as a self-contained, printable HTML page."""
    h = report.header
    esc = html.escape
    parts: list[str] = []
    where = f"{h.get('pack')} / {h.get('scenario')}"
    parts.append(f"<h1>{esc(report.title or where)}</h1>")
    parts.append(
        f"<p>{esc(where)} · pack {esc(str(h.get('pack_version')))} · vrmed {esc(str(h.get('engine')))} · "
        f"seed {esc(str(h.get('seed')))} · mode {esc(str(h.get('mode', 'formative')))} · input "
        f"{esc(str(h.get('input')))} · recorded {esc(str(h.get('recorded_at', ''))[:19].replace('T', ' '))} UTC</p>"
    )
    s = report.score
    if s and "unavailable" not in s:
        verdict = "PASSED ✓" if s["passed"] else "NOT PASSED ✗"
        parts.append(
            f'<p class="verdict">{verdict} — score {format_value(s["score"])} of {format_value(s["max_score"])}</p>'
            + (
                f"<p>Every metric below is measured over the task window {report.window[0]:.2f}–"
                f"{report.window[1]:.2f} s (session start to task end); the score uses the same window.</p>"
                if report.window
                else "<p>Metrics are measured over the whole session.</p>"
            )
        )
        if report.findings:
            frows = "".join(
                f"<tr><td>{'✗ ' + esc(f['status'])}</td><td>{'critical' if f['critical'] else ''}</td>"
                f'<td class="num">{format_value(f["t"])}</td><td>{esc(f["id"])}</td><td>{esc(f["reason"])}</td></tr>'
                for f in report.findings
            )
            parts.append(
                "<h2>Failed actions</h2><table><tr><th>result</th><th>critical</th><th>time (s)</th><th>rule</th>"
                f"<th>reason</th></tr>{frows}</table>"
            )
        elif s.get("rubric"):
            parts.append("<h2>Failed actions</h2><p>None: every applicable rubric rule was met.</p>")
        prev_head = "".join(f"<th>{esc(lbl) or f'attempt {i + 1}'}</th>" for i, lbl in enumerate(report.previous))
        mrows = []
        for r in report.rows:
            way = {"lower": "≤ (lower is better)", "higher": "≥ (higher is better)"}.get(r.direction or "", "")
            mark = {"pass": "✓ pass", "fail": "✗ FAIL", "-": "-"}[r.status]
            band = f"{format_value(r.band[0])} – {format_value(r.band[1])}" if r.band else "-"
            prev = "".join(f'<td class="num">{format_value(v)}</td>' for v in r.previous)
            mrows.append(
                f'<tr><td>{esc(r.name)}</td>{prev}<td class="num"><b>{format_value(r.value)}</b></td>'
                f'<td class="num">{format_value(r.target)}</td><td>{way}</td><td class="num">{band}</td>'
                f'<td class="{"fail" if r.status == "fail" else ""}">{mark}</td></tr>'
            )
        parts.append(
            "<h2>Metrics against proficiency targets</h2>"
            f"<table><tr><th>metric</th>{prev_head}<th>this attempt</th><th>proficiency target</th><th>rule</th>"
            f"<th>expert band</th><th>result</th></tr>{''.join(mrows)}</table>"
            "<p><small>Expert band: the range over the expert reference sessions given to <code>vrmed report "
            "--expert</code> (- when none was given). A metric without a declared direction is shown, not judged."
            "</small></p>"
        )
        hist = history_figure(report)
        if hist:
            parts.append(
                f"<h2>Compared with previous attempts</h2><figure>{hist}<figcaption>Each targeted metric "
                "over the previous attempts (circles) and this one (star); dashed: target; grey: expert band."
                "</figcaption></figure>"
            )
        if s.get("rubric"):
            rrows = "".join(
                f'<tr><td>{esc(rule_status(r))}</td><td class="num">{esc(format_value(r.get("t")))}</td>'
                f"<td>{esc(format_value(r.get('earned')))}/{esc(format_value(r.get('points')))}</td><td>{esc(str(r.get('id')))}</td>"
                f"<td>{esc(str(r.get('detail') or r.get('description') or ''))}</td></tr>"
                for r in s["rubric"].get("rules", [])
            )
            parts.append(
                "<h3>Rubric, rule by rule</h3><table><tr><th>status</th><th>t (s)</th><th>points</th>"
                f"<th>rule</th><th>reason</th></tr>{rrows}</table>"
            )
    elif s:
        parts.append(f"<h2>Score</h2><p>Not scored: {esc(s['unavailable'])}</p>")
    rows = "".join(
        "<tr>"
        + f"<td>{esc(m['name'])}</td>"
        + "".join(
            f'<td class="num">{esc(format_value(m[k]))}</td>'
            for k in (
                "duration_s",
                "path_length_m",
                "movements",
                "idle_time_s",
                "normalized_jerk",
                "sparc",
            )
        )
        + "</tr>"
        for m in report.metrics
    )
    bim = (
        ""
        if report.bimanual is None
        else f"<p>Bimanual dexterity (speed correlation): <b>{report.bimanual:.2f}</b></p>"
    )
    parts.append(
        "<h2>Instrument motion</h2><table><tr><th>device</th><th>time (s)</th><th>path (m)</th><th>movements</th>"
        "<th>idle (s)</th><th>dimensionless jerk</th><th>SPARC</th></tr>"
        f"{rows}</table>{bim}<p><small>Same task window and filter as the score. Economy of motion needs the "
        "task's reference path, which only the pack's score knows: see the metrics table.</small></p>"
    )
    speed = speed_figure(report)
    if speed:
        parts.append(
            f"<h3>Speed over time</h3><figure>{speed}<figcaption>Filtered instrument speed (zero-lag 6 Hz "
            "Butterworth). Dashed grey lines: events; solid dark-red lines marked ✗: failed rules; shaded: the task "
            "window.</figcaption></figure>"
        )
        parts.append(
            f"<h3>Instrument paths</h3><figure>{path_figure(report)}<figcaption>Filtered paths in millimetres, equal "
            "scale on both axes; grey outline: work surface; +: objects placed by the scenario.</figcaption></figure>"
        )
    events = "".join(
        f'<tr><td class="num">{t:.2f}</td><td>{esc(what)}</td><td>{esc(detail)}</td></tr>'
        for t, what, detail in timeline(report)
    )
    parts.append(f"<h2>Timeline</h2><table><tr><th>t (s)</th><th>what</th><th>details</th></tr>{events}</table>")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Debrief: {esc(where)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


def terminal_summary(report: Report) -> str:
    """A plain-text summary table for the terminal."""
    h = report.header
    lines = [f"{h.get('pack')}/{h.get('scenario')}  (seed {h.get('seed')}, {len(report.events)} events)"]
    if report.score and "unavailable" not in report.score:
        s = report.score
        lines.append(
            f"score {format_value(s['score'])}/{format_value(s['max_score'])}  "
            f"{'PASSED' if s['passed'] else 'not passed'}"
        )
        if report.window:
            lines.append(f"  metrics over the task window {report.window[0]:.2f}-{report.window[1]:.2f} s")
        if s.get("rubric"):
            lines.extend(rubric_lines(s["rubric"]))
        targeted = target_lines(s)
        if targeted:
            lines.append("  metric targets:")
            lines.extend(f"  {line}" for line in targeted)
        for k, v in s.get("metrics", {}).items():
            if k not in s.get("targets", {}) and k not in _WINDOW_KEYS:
                lines.append(f"  {k:<34} {format_value(v):>10}")
    elif report.score:
        lines.append(f"not scored: {report.score['unavailable']}")
    if report.metrics:
        lines.append(f"  {'device':<14}{'time s':>8}{'path m':>9}{'moves':>7}{'idle s':>8}{'SPARC':>8}")
        for m in report.metrics:
            lines.append(
                f"  {m['name']:<14}{m['duration_s']:>8.2f}{m['path_length_m']:>9.3f}{m['movements']:>7}"
                f"{m['idle_time_s']:>8.2f}{m['sparc']:>8.2f}"
            )
    if report.bimanual is not None:
        lines.append(f"  bimanual dexterity {report.bimanual:.2f}")
    return "\n".join(lines)


def write_report(
    log_path: Path,
    out: Path | None = None,
    pack_path: Path | None = None,
    *,
    allow_code: bool = True,
    previous: list[Path] | None = None,
    expert: list[Path] | None = None,
) -> tuple[Path, str]:
    """Write the HTML debrief next to the log (or at ``out``); returns (path, terminal
    summary). ``pack_path``: the pack's folder when it is not installed (``--pack``);
    ``previous``/``expert``: earlier logs of the learner and expert reference logs."""
    log = SessionLog.read(log_path)
    report = build_report(
        log,
        pack_path=pack_path,
        allow_code=allow_code,
        previous=[SessionLog.read(p) for p in previous or []],
        expert=[SessionLog.read(p) for p in expert or []],
    )
    out = out or Path(log_path).with_suffix(".html")
    out.write_text(render_html(report), encoding="utf-8")
    return out, terminal_summary(report)
