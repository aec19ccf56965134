"""``vrmed report SESSION``: an HTML debrief of a recorded session and a terminal summary.

Everything is computed from the log: instrument paths (top view) and speed over time as
inline SVG, the motion-metric table against the pack's proficiency targets (from its
``score(log)``, when it has one), and the event timeline. No plotting library is needed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..recording import SessionLog
from ..records.scoring import score_log
from .motion import Track, bimanual_dexterity, motion_metrics, tracks_from_log

_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass
class Report:
    """What a report shows: per-device motion metrics, bimanual dexterity, the pack score."""

    header: dict[str, Any]
    metrics: list[dict[str, Any]]
    bimanual: float | None
    score: dict[str, Any] | None
    events: list[dict[str, Any]]
    tracks: dict[str, Track]


def build_report(log: SessionLog, devices: list[str] | None = None) -> Report:
    """Compute the report's content from a session log."""
    tracks = {n: t for n, t in tracks_from_log(log, devices).items() if t.t.shape[0] >= 2}
    metrics = [motion_metrics(t).as_dict() for t in tracks.values()]
    bimanual = None
    hands = [n for n in ("left_hand", "right_hand") if n in tracks]
    if len(hands) == 2:
        bimanual = bimanual_dexterity(tracks["left_hand"], tracks["right_hand"])
    score = None
    try:
        score = score_log(log).to_dict()
    except Exception as exc:  # a pack without score(log), or one that cannot be loaded
        score = {"unavailable": str(exc)}
    return Report(log.header, metrics, bimanual, score, log.events, tracks)


def _polyline(
    xs: np.ndarray, ys: np.ndarray, box: tuple[float, float, float, float], w: int, h: int, color: str
) -> str:
    x0, x1, y0, y1 = box
    sx = (xs - x0) / max(x1 - x0, 1e-12) * (w - 20) + 10
    sy = h - 10 - (ys - y0) / max(y1 - y0, 1e-12) * (h - 20)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(sx, sy))
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>'


def _svg_paths(tracks: dict[str, Track], w: int = 420, h: int = 320) -> str:
    if not tracks:
        return "<p>No tracked devices.</p>"
    allp = np.concatenate([t.p for t in tracks.values()])
    box = (allp[:, 0].min(), allp[:, 0].max(), allp[:, 2].min(), allp[:, 2].max())
    lines = [
        _polyline(t.p[:, 0], t.p[:, 2], box, w, h, _COLORS[i % len(_COLORS)]) for i, t in enumerate(tracks.values())
    ]
    return (
        f'<svg width="{w}" height="{h}" style="background:#fafafa;border:1px solid #ccc">' + "".join(lines) + "</svg>"
    )


def _svg_speed(tracks: dict[str, Track], w: int = 620, h: int = 200) -> str:
    if not tracks:
        return ""
    series = [(t.t[:-1], t.speeds()[0]) for t in tracks.values()]
    t_all = np.concatenate([s[0] for s in series])
    v_max = max(float(s[1].max()) for s in series) or 1.0
    box = (float(t_all.min()), float(t_all.max()), 0.0, v_max)
    lines = [_polyline(ts, vs, box, w, h, _COLORS[i % len(_COLORS)]) for i, (ts, vs) in enumerate(series)]
    return (
        f'<svg width="{w}" height="{h}" style="background:#fafafa;border:1px solid #ccc">'
        + "".join(lines)
        + f'<text x="12" y="14" font-size="11">max {v_max:.3f} m/s</text></svg>'
    )


def render_html(report: Report) -> str:
    """The report as a self-contained HTML page."""
    h = report.header
    esc = html.escape
    legend = " ".join(
        f'<span style="color:{_COLORS[i % len(_COLORS)]}">&#9632; {esc(n)}</span>' for i, n in enumerate(report.tracks)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(_fmt(m[k]))}</td>"
            for k in (
                "name",
                "duration_s",
                "path_length_m",
                "movements",
                "idle_time_s",
                "economy_of_motion",
                "normalized_jerk",
            )
        )
        + "</tr>"
        for m in report.metrics
    )
    score_html = ""
    if report.score and "unavailable" not in report.score:
        s = report.score
        targets = s.get("targets", {})
        mrows = "".join(
            f"<tr><td>{esc(k)}</td><td>{esc(_fmt(v))}</td><td>{esc(_fmt(targets.get(k)))}</td></tr>"
            for k, v in s.get("metrics", {}).items()
        )
        score_html = (
            f"<h2>Score</h2><p><b>{_fmt(s['score'])}</b> of {_fmt(s['max_score'])} — "
            f"{'passed' if s['passed'] else 'not passed'}</p>"
            f"<table><tr><th>metric</th><th>value</th><th>proficiency target</th></tr>{mrows}</table>"
        )
    elif report.score:
        score_html = f"<h2>Score</h2><p>{esc(report.score['unavailable'])}</p>"
    events = "".join(
        f"<tr><td>{e['t']:.3f}</td><td>{esc(e['type'].rsplit(':', 1)[-1])}</td>"
        f"<td><code>{esc(str(e.get('data', {}))[:160])}</code></td></tr>"
        for e in report.events[:2000]
    )
    bim = (
        ""
        if report.bimanual is None
        else f"<p>Bimanual dexterity (speed correlation): <b>{report.bimanual:.2f}</b></p>"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>vrmed session report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}</style></head><body>
<h1>{esc(str(h.get("pack")))} / {esc(str(h.get("scenario")))}</h1>
<p>pack version {esc(str(h.get("pack_version")))}, vrmed {esc(str(h.get("engine")))}, seed {esc(str(h.get("seed")))},
input {esc(str(h.get("input")))}, recorded {esc(str(h.get("recorded_at")))}</p>
{score_html}
<h2>Instrument motion</h2>
<table><tr><th>device</th><th>time (s)</th><th>path (m)</th><th>movements</th><th>idle (s)</th>
<th>economy</th><th>norm. jerk</th></tr>{rows}</table>{bim}
<h3>Paths (top view, x–z)</h3><p>{legend}</p>{_svg_paths(report.tracks)}
<h3>Speed over time</h3>{_svg_speed(report.tracks)}
<h2>Event timeline</h2><table><tr><th>t (s)</th><th>event</th><th>data</th></tr>{events}</table>
</body></html>"""


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def terminal_summary(report: Report) -> str:
    """A plain-text summary table for the terminal."""
    h = report.header
    lines = [f"{h.get('pack')}/{h.get('scenario')}  (seed {h.get('seed')}, {len(report.events)} events)"]
    if report.score and "unavailable" not in report.score:
        s = report.score
        lines.append(f"score {_fmt(s['score'])}/{_fmt(s['max_score'])}  {'PASSED' if s['passed'] else 'not passed'}")
        for k, v in s.get("metrics", {}).items():
            target = s.get("targets", {}).get(k)
            lines.append(f"  {k:<34} {_fmt(v):>10}" + (f"   target {_fmt(target)}" if target is not None else ""))
    if report.metrics:
        lines.append(f"  {'device':<14}{'time s':>8}{'path m':>9}{'moves':>7}{'idle s':>8}{'economy':>9}")
        for m in report.metrics:
            lines.append(
                f"  {m['name']:<14}{m['duration_s']:>8.2f}{m['path_length_m']:>9.3f}{m['movements']:>7}"
                f"{m['idle_time_s']:>8.2f}{m['economy_of_motion']:>9.3f}"
            )
    if report.bimanual is not None:
        lines.append(f"  bimanual dexterity {report.bimanual:.2f}")
    return "\n".join(lines)


def write_report(log_path: Path, out: Path | None = None) -> tuple[Path, str]:
    """Write the HTML report next to the log (or at ``out``); returns (path, terminal summary)."""
    log = SessionLog.read(log_path)
    report = build_report(log)
    out = out or Path(log_path).with_suffix(".html")
    out.write_text(render_html(report), encoding="utf-8")
    return out, terminal_summary(report)
