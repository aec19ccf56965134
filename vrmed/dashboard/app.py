"""The instructor dashboard: a Starlette web app over the attempt database.

Pages (all behind a login; a learner account sees only its own learner's pages):

* ``/``: the cohort per skill: attempts, learners, pass rate; each metric's distribution
  (box plot and percentiles against the proficiency target, with the share of attempts
  meeting it); who is stuck; which rubric rules fail most; links to every learner;
* ``/learner/{pseudonym}``: per skill, the learning curve of every metric with a 5-attempt
  moving average against its target and the predicted number of attempts to proficiency
  (power law of practice), the pass/fail CUSUM (:mod:`vrmed.analytics.curves`) and the
  attempts, each linking to its debrief;
* ``/attempt/{id}``: an attempt's debrief from the database (metrics against targets,
  failed rules with times and reasons) and the ``vrmed report`` command for the full one.

Charts are matplotlib SVG rendered on the server (no JavaScript needed; they print).
"""

from __future__ import annotations

import html
import io
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..analytics.curves import CusumSpec, cusum, cusum_state, is_stuck, moving_average, predict_attempts
from ..analytics.report import build_report, format_value, render_html
from ..errors import VrmedError
from ..recording import SessionLog
from ..records.attempt import session_id
from ..records.db import AttemptDB
from .users import DashboardError, User, UserStore

esc = html.escape

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#111;line-height:1.4}
header{background:#1f2d3d;color:#fff;padding:.6em 1.5em;display:flex;justify-content:space-between}
header a{color:#fff}main{max-width:1100px;margin:1em auto;padding:0 1.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:3px 8px;font-size:13px;text-align:left}
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.5em 0;display:inline-block;vertical-align:top}figcaption{font-size:12px}svg{max-width:100%;height:auto}
.stuck{font-weight:bold}form.login{max-width:320px;margin:4em auto;display:grid;gap:.5em}
@media print{header{display:none}figure,tr{break-inside:avoid}}
"""


def _page(title: str, body: str, user: User | None = None) -> HTMLResponse:
    who = (
        f'<span>{esc(user.name)} ({esc(user.role)}) · <a href="/logout">sign out</a></span>'
        if user
        else "<span></span>"
    )
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)} · vrmed dashboard</title>'
        f'<style>{_CSS}</style></head><body><header><a href="/"><b>vrmed dashboard</b></a>{who}</header>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def _plt() -> Any:
    # deferred: matplotlib is imported when the first chart is drawn, not at start-up
    import matplotlib

    matplotlib.use("Agg")
    # deferred: after selecting the non-interactive backend above
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any, chart: str, points: int) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _plt().close(fig)
    text = buf.getvalue()
    return f'<div class="chart" data-chart="{esc(chart)}" data-points="{points}">{text[text.index("<svg") :]}</div>'


def curve_chart(name: str, values: np.ndarray, target: float | None, direction: str | None) -> str:
    """A metric's learning curve: values, 5-attempt moving average, target, fitted power law."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    n = np.arange(1, values.size + 1)
    ax.plot(n, values, "o", color="#1f4e79", ms=4, label="attempt")
    ax.plot(n, moving_average(values, 5), "-", color="#1f4e79", lw=1.5, label="moving average (5)")
    if target is not None:
        ax.axhline(target, color="#a00000", linestyle="--", lw=1, label="target")
        pred = predict_attempts(values, target, direction or "")
        if pred is not None and pred.reached_at:
            m = np.arange(1, max(values.size, pred.reached_at) + 1)
            ax.plot(m, pred.value(m), ":", color="0.3", lw=1.2, label="power-law fit")
    ax.set_xlabel("attempt")
    ax.set_ylabel(name)
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(fontsize=6.5)
    return _svg(fig, f"curve-{name}", int(values.size))


def cusum_chart(outcomes: np.ndarray) -> str:
    """The pass/fail CUSUM with its decision interval below the running maximum."""
    spec = CusumSpec()
    plt = _plt()
    c = cusum(outcomes, spec)
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    ax.step(np.arange(c.size), c, where="post", color="#1f4e79", lw=1.4, label="CUSUM")
    ax.plot(
        np.arange(c.size), np.maximum.accumulate(c) - spec.h0, "--", color="#2e6b30", lw=1, label="proficient below"
    )
    ax.set_xlabel("attempt")
    ax.set_ylabel("CUSUM of failures")
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(fontsize=6.5)
    return _svg(fig, "cusum", int(outcomes.size))


def box_chart(db: AttemptDB, skill: str, stats: list[Any]) -> str:
    """Per metric: the cohort's distribution of learner means (box plot) with the target."""
    shown = [s for s in stats if s.target is not None][:6] or stats[:6]
    if not shown:
        return ""
    plt = _plt()
    fig, axes = plt.subplots(1, len(shown), figsize=(2.2 * len(shown), 2.8), squeeze=False)
    total = 0
    for ax, s in zip(axes[0], shown):
        per_learner = []
        for learner in db.learners(skill):
            v, _, _ = db.series(learner, skill, s.name)
            if v.size:
                per_learner.append(float(v[-3:].mean()))  # where each learner is now: mean of the last three
        total += len(per_learner)
        ax.boxplot(per_learner, widths=0.5)
        if s.target is not None:
            ax.axhline(s.target, color="#a00000", linestyle="--", lw=1)
        ax.set_title(s.name, fontsize=7.5)
        ax.set_xticks([])
        ax.grid(True, axis="y", color="0.9", lw=0.6)
    return _svg(fig, "cohort-distribution", total)


class LogIndex:
    """Session logs under a folder, found by the SHA-256 session id the attempts record
    (:func:`vrmed.records.session_id`); the folder is rescanned for new files on a miss."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._by_id: dict[str, Path] = {}
        self._seen: dict[Path, float] = {}

    def find(self, sid: str | None) -> Path | None:
        """The log whose session id is ``sid`` (None when not found or no folder)."""
        if not sid or self.folder is None:
            return None
        if sid not in self._by_id:
            for path in sorted(self.folder.rglob("*.jsonl")):
                mtime = path.stat().st_mtime
                if self._seen.get(path) == mtime:
                    continue
                self._seen[path] = mtime
                try:
                    self._by_id[session_id(SessionLog.read(path))] = path
                except (VrmedError, OSError, ValueError):
                    continue  # not a complete, sealed session log: never a debrief source
        return self._by_id.get(sid)


def create_app(
    db: AttemptDB,
    users: UserStore,
    *,
    secret_key: str | None = None,
    logs_dir: Path | None = None,
) -> Starlette:
    """The dashboard app over ``db`` with the accounts in ``users``; ``logs_dir``: a folder
    of session logs, for the full debrief of an attempt (plots, timeline) and its replay."""
    logs = LogIndex(logs_dir)

    def current(request: Request) -> User | None:
        name = request.session.get("user")
        return users.get(name) if isinstance(name, str) else None

    def forbidden(user: User) -> HTMLResponse:
        page = _page("Not allowed", "<p>This account may not see this learner's data.</p>", user)
        page.status_code = 403
        return page

    async def login(request: Request) -> Response:
        error = ""
        if request.method == "POST":
            form = await request.form()
            user = users.authenticate(str(form.get("username", "")), str(form.get("password", "")))
            if user is not None:
                request.session.clear()
                request.session["user"] = user.name
                return RedirectResponse("/", status_code=303)
            error = '<p role="alert">Wrong user name or password.</p>'
        body = (
            f'<form class="login" method="post" action="/login">{error}<label>User name <input name="username" '
            'autocomplete="username" required></label><label>Password <input name="password" type="password" '
            'autocomplete="current-password" required></label><button type="submit">Sign in</button></form>'
        )
        page = _page("Sign in", body)
        page.status_code = 401 if error else 200
        return page

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        if not user.is_instructor:
            return RedirectResponse(f"/learner/{quote(user.learner or '')}", status_code=303)
        parts = []
        rates = db.pass_rates()
        for skill in db.skills():
            rows = [r for r in rates if r[1] == skill]
            attempts = sum(r[2] for r in rows)
            passes = sum(r[3] for r in rows)
            stats = db.cohort(skill)
            stuck = [r[0] for r in rows if is_stuck(db.outcomes(r[0], skill))]
            parts.append(
                f'<section data-skill="{esc(skill)}"><h2>{esc(skill)}</h2><p>{attempts} attempts by {len(rows)} '
                f"learners; {100.0 * passes / max(attempts, 1):.0f}% passed.</p>"
            )
            mrows = "".join(
                f'<tr><td>{esc(s.name)}</td><td class="num">{s.n}</td>'
                + "".join(f'<td class="num">{format_value(v)}</td>' for v in s.percentiles.values())
                + f'<td class="num">{format_value(s.target)}</td><td>{esc(s.direction or "")}</td>'
                f'<td class="num">{"-" if s.share_meeting_target is None else f"{100 * s.share_meeting_target:.0f}%"}'
                "</td></tr>"
                for s in stats
            )
            parts.append(
                "<h3>Metric distributions</h3><table><tr><th>metric</th><th>attempts</th><th>p10</th><th>p25</th>"
                "<th>median</th><th>p75</th><th>p90</th><th>target</th><th>better</th><th>meeting target</th></tr>"
                f"{mrows}</table><figure>{box_chart(db, skill, stats)}<figcaption>Where each learner is now (mean of "
                "their last three attempts); dashed: target.</figcaption></figure>"
            )
            parts.append(
                "<h3>Stuck learners</h3>"
                + (
                    "<ul>"
                    + "".join(f'<li class="stuck"><a href="/learner/{quote(lr)}">{esc(lr)}</a></li>' for lr in stuck)
                    + "</ul>"
                    if stuck
                    else "<p>None: nobody has failed four of their last five attempts without reaching proficiency.</p>"
                )
            )
            rules = db.failing_rules(skill)
            parts.append(
                "<h3>Most-failed rubric rules</h3>"
                + (
                    "<table><tr><th>rule</th><th>attempts missing it</th><th>share</th></tr>"
                    + "".join(
                        f'<tr><td>{esc(r)}</td><td class="num">{n}</td><td class="num">{100 * sh:.0f}%</td></tr>'
                        for r, n, sh in rules
                    )
                    + "</table>"
                    if rules
                    else "<p>No rubric rule was missed.</p>"
                )
            )
            learners = "".join(
                f'<tr><td><a href="/learner/{quote(r[0])}">{esc(r[0])}</a></td><td class="num">{r[2]}</td>'
                f'<td class="num">{100 * r[4]:.0f}%</td><td>{cusum_state(db.outcomes(r[0], skill))}</td></tr>'
                for r in rows
            )
            parts.append(
                "<h3>Learners</h3><table><tr><th>learner</th><th>attempts</th><th>passed</th><th>CUSUM</th></tr>"
                f"{learners}</table></section>"
            )
        if not parts:
            parts.append("<p>No attempts yet: add sessions with <code>vrmed records add</code>.</p>")
        return _page("Cohort", "".join(parts), user)

    async def learner_page(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        learner = request.path_params["learner"]
        if not user.may_see(learner):
            return forbidden(user)
        parts = []
        for skill in db.skills(learner):
            outcomes = db.outcomes(learner, skill)
            parts.append(
                f'<section data-skill="{esc(skill)}"><h2>{esc(skill)}</h2><p>{outcomes.size} attempts, '
                f"{int(outcomes.sum())} passed; CUSUM: <b>{cusum_state(outcomes)}</b>.</p>"
                f"<figure>{cusum_chart(outcomes)}<figcaption>Pass/fail CUSUM (Bolsin &amp; Colson 2000).</figcaption>"
                "</figure>"
            )
            preds: list[tuple[str, str]] = []
            for name in db.metric_names(skill):
                values, target, direction = db.series(learner, skill, name)
                if values.size == 0 or (target is None and len(preds) >= 4):
                    continue
                pred = predict_attempts(values, target, direction or "") if target is not None else None
                if pred is None:
                    note = "no prediction (needs a target with a direction and three attempts)"
                elif pred.attempts_left == 0:
                    note = "at the target"
                elif pred.attempts_left is None:
                    note = "not improving toward the target"
                else:
                    note = f"about {pred.attempts_left} more attempt(s) to the target"
                preds.append((name, note))
                parts.append(
                    f"<figure>{curve_chart(name, values, target, direction)}<figcaption>{esc(name)}: "
                    f"{esc(note)}</figcaption></figure>"
                )
            arows = "".join(
                f'<tr><td><a href="/attempt/{quote(a.attempt_id)}">{esc(a.started[:16].replace("T", " "))}</a></td>'
                f'<td>{esc(a.scenario)}</td><td class="num">{format_value(a.score)}/{format_value(a.max_score)}</td>'
                f"<td>{'passed' if a.passed else 'not passed'}</td><td>{'yes' if a.completed else 'no'}</td></tr>"
                for a in db.attempts(learner, skill)
            )
            parts.append(
                "<h3>Predicted attempts to proficiency</h3><ul>"
                + "".join(f"<li>{esc(n)}: {esc(t)}</li>" for n, t in preds)
                + "</ul><h3>Attempts</h3><table><tr><th>started (UTC)</th><th>scenario</th><th>score</th>"
                f"<th>verdict</th><th>completed</th></tr>{arows}</table></section>"
            )
        if not parts:
            parts.append("<p>No attempts recorded yet.</p>")
        return _page(f"Learner {learner}", "".join(parts), user)

    async def attempt_page(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        a = db.attempt(request.path_params["attempt_id"])
        if a is None:
            return _page("No such attempt", "<p>No attempt with that id.</p>", user)
        if not user.may_see(a.learner):
            return forbidden(user)
        mrows = []
        for name, value, target, direction in db.metrics_of(a.attempt_id):
            status = "-"
            if target is not None and direction in ("lower", "higher"):
                ok = value <= target if direction == "lower" else value >= target
                status = "✓ pass" if ok else "✗ FAIL"
            mrows.append(
                f'<tr><td>{esc(name)}</td><td class="num">{format_value(value)}</td>'
                f'<td class="num">{format_value(target)}</td>'
                f"<td>{esc(direction or '')}</td><td>{status}</td></tr>"
            )
        frows = "".join(
            f'<tr><td>✗ {esc(st)}</td><td class="num">{format_value(t)}</td><td>{esc(rule)}</td>'
            f"<td>{esc(reason or '')}</td></tr>"
            for rule, st, t, reason in db.findings_of(a.attempt_id)
        )
        body = (
            f"<p>{esc(a.pack)} / {esc(a.scenario)} · started {esc(a.started)} · mode {esc(a.mode)} · "
            f"<b>{'PASSED ✓' if a.passed else 'NOT PASSED ✗'}</b> · "
            f"score {format_value(a.score)} of {format_value(a.max_score)} · "
            f"task {'completed' if a.completed else 'not completed'}</p>"
            f'<p><a href="/learner/{quote(a.learner)}">all attempts of this learner</a></p>'
            "<h2>Failed actions</h2>"
            + (
                f"<table><tr><th>result</th><th>time (s)</th><th>rule</th><th>reason</th></tr>{frows}</table>"
                if frows
                else "<p>None recorded.</p>"
            )
            + "<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>target</th><th>better</th><th>result</th>"
            f"</tr>{''.join(mrows)}</table>" + _debrief_link(a.attempt_id, logs.find(db.session_of(a.attempt_id)))
        )
        return _page(f"Attempt {a.attempt_id[:8]}", body, user)

    async def debrief_page(request: Request) -> Response:
        user = current(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        a = db.attempt(request.path_params["attempt_id"])
        if a is None or not user.may_see(a.learner):
            return forbidden(user) if a is not None else _page("No such attempt", "<p>No such attempt.</p>", user)
        path = logs.find(db.session_of(a.attempt_id))
        if path is None:
            return _page("No session log", "<p>The session log of this attempt is not in the logs folder.</p>", user)
        report = build_report(SessionLog.read(path))
        return HTMLResponse(render_html(report))

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout),
        Route("/", home),
        Route("/learner/{learner}", learner_page),
        Route("/attempt/{attempt_id}", attempt_page),
        Route("/attempt/{attempt_id}/debrief", debrief_page),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret_key or secrets.token_urlsafe(32),
            session_cookie="vrmed_dashboard",
            same_site="strict",
            https_only=False,  # served on 127.0.0.1 only
            max_age=8 * 3600,
        )
    ]
    return Starlette(routes=routes, middleware=middleware)


def _debrief_link(attempt_id: str, path: Path | None) -> str:
    if path is None:
        return (
            "<p>Full debrief with plots and timeline: <code>vrmed report SESSION.jsonl</code> on the session log "
            "(start the dashboard with <code>--logs FOLDER</code> to open it here); replay: "
            "<code>vrmed replay SESSION.jsonl</code>.</p>"
        )
    return (
        f'<p><a href="/attempt/{quote(attempt_id)}/debrief">Full debrief</a> (plots, timeline) of '
        f"<code>{esc(path.name)}</code>; watch it again: <code>vrmed replay {esc(str(path))}</code>.</p>"
    )


def open_dashboard_db(db_path: Path, store: Any | None = None, exports: list[Path] | None = None) -> AttemptDB:
    """The attempt database at ``db_path`` brought up to date with the local record store
    and any LRS export files (JSON lists of statements, or ``{"statements": [...]}`` pages)."""
    db = AttemptDB(db_path)
    if store is not None:
        db.ingest_store(store)
    for path in exports or []:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DashboardError(f"{path}: not a JSON LRS export ({exc})") from None
        statements = data.get("statements", []) if isinstance(data, dict) else data
        db.ingest_statements(statements if isinstance(statements, list) else [])
    return db


__all__ = ["box_chart", "create_app", "curve_chart", "cusum_chart", "open_dashboard_db"]
