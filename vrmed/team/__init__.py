"""Team training across machines: shared sessions, roles, team scoring, instructor console.

- :mod:`vrmed.team.roles`: a scenario's ``settings.team`` (roles and their actions),
  validated with file:line when the pack loads, and :class:`TeamPlugin`, which refuses
  actions outside their sender's role inside the App (so replays refuse them too);
- :mod:`vrmed.team.protocol`: versioned JSON messages and expiring HMAC role tokens;
- :mod:`vrmed.team.server`: :class:`TeamServer`, one authoritative App fed by every
  client's queued input (:class:`TeamInput`), and the instructor console at ``/``;
- :mod:`vrmed.team.client`: :class:`TeamClient`, :class:`ScriptedTeamClient`;
- :mod:`vrmed.team.scoring`: team rules (compressor swaps, closed-loop communication, role
  clarity, leader summary) and per-learner results from the event log;
- :mod:`vrmed.team.desktop`: ``vrmed join --input desktop`` (a lockstep mirror of the
  server's App in the desktop window, the role's menu, avatars);
- :mod:`vrmed.team.headset`: ``vrmed join --input openxr`` (the same mirror in a headset,
  the role's menu on a world-space panel, head and hand poses sent);
- :mod:`vrmed.team.member`: what both share (network thread, mirror, role menu with its
  patient picker, avatars);
- :mod:`vrmed.team.inject`: the instructor's deterioration, equipment failures and added casualties;
- :mod:`vrmed.team.records`: team xAPI statements and ``vrmed records add-team``;
- :mod:`vrmed.team.debrief`: the replay drawn from each member's recorded head pose;
- :mod:`vrmed.team.voice`: push-to-talk clips (stored, hashed in the log, relayed, played live).

See docs/team-training.md.
"""

from __future__ import annotations

from .protocol import VERSION, ProtocolError, TokenIssuer
from .roles import CallOut, RhythmInjected, Role, TeamActed, TeamPlugin, TeamSpec, check_team, team_of
from .scoring import LearnerResult, TeamResult, score_team

__all__ = [
    "VERSION",
    "CallOut",
    "LearnerResult",
    "ProtocolError",
    "RhythmInjected",
    "Role",
    "TeamActed",
    "TeamPlugin",
    "TeamResult",
    "TeamSpec",
    "TokenIssuer",
    "check_team",
    "score_team",
    "team_of",
]
