"""What ``vrmed serve`` and ``vrmed join`` do (the CLI only parses options)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from ..errors import VrmedError
from ..session import open_target
from .client import ScriptedTeamClient, TeamClient
from .local import play_all, scripted_team
from .member import pack_named  # the installed pack a server names (shared with the desktop and headset joins)
from .roles import INSTRUCTOR, team_of
from .scoring import score_team
from .server import TeamServer
from .voice import MAX_CLIP_S, record_microphone, voice_dir


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server TLS context from a PEM certificate and key (None: plain ws://, loopback/LAN)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise VrmedError("TLS needs both --tls-cert and --tls-key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise VrmedError(f"cannot load the TLS certificate/key: {exc}") from None
    return ctx


def serve(
    target: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    speed: float = 1.0,
    seed: int = 0,
    grace_s: float = 10.0,
    password: str | None = None,
    record: Path | None = None,
    scripted: list[str] | None = None,
    tls: ssl.SSLContext | None = None,
    token_ttl: float = 3600.0,
    redis_url: str | None = None,
    session_id: str | None = None,
    public_url: str | None = None,
    stream_surfaces: bool = False,
    debrief: bool = False,
    echo: Any = print,
) -> dict[str, Any]:
    """Serve one shared session until it ends (or Ctrl+C / SIGTERM); returns the team result.
    With ``redis_url`` the session registers in Redis (:mod:`vrmed.team.scaleout`). With
    ``debrief`` the server stays up after the end, for the console's Debrief tab, until
    Ctrl+C / SIGTERM."""
    pack, scenario = open_target(target)

    async def main() -> dict[str, Any]:
        server = TeamServer(
            pack,
            scenario,
            seed=seed,
            speed=speed,
            host=host,
            port=port,
            grace_s=grace_s,
            instructor_password=password,
            ssl=tls,
            voice_dir=voice_dir(record) if record is not None else None,  # push-to-talk clips beside the log
            stream_surfaces=stream_surfaces,
        )
        if record is not None:
            server.session.recorder.stream_to(record)
        await server.start()
        echo(f"shared session {pack.name}/{server.session.scenario.name} at {server.url}")
        echo(
            f"instructor console: {'https' if tls else 'http'}://{host}:{server.port}/ "
            f"(password {server.instructor_password})"
        )
        for name, role in server.team.roles.items():
            for i in range(role.max):
                echo(f"  token {name}{'.' + str(i + 1) if role.max > 1 else ''}: {server.issue(name, token_ttl)}")
        registry = None
        if redis_url is not None:
            # deferred: the Redis client is needed only when scaling out
            from .scaleout import RedisRegistry

            registry = RedisRegistry(server, redis_url, session_id=session_id, public_url=public_url)
            await registry.start()
            echo(f"registered as session {registry.session_id} in {redis_url}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            if scripted:
                clients = await scripted_team(server, scripted)
                await play_all(clients)
            waits = [asyncio.create_task(server.ended.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            if debrief and not stop.is_set():
                echo("the session has ended; the instructor console's Debrief tab stays open until Ctrl+C")
                await stop.wait()
        finally:
            if registry is not None:
                await registry.stop()
            await server.stop()
        log = server.finish()
        server.session.close()
        team = score_team(log.events, server.team)
        return {
            "scenario": server.session.scenario.name,
            "ended": server.ended.is_set(),
            "team": {r.id: {"passed": r.passed, "detail": r.detail} for r in team.rules},
            "learners": {
                k: {"role": v.role, "actions": v.actions, "refused": v.refused} for k, v in team.learners.items()
            },
        }

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return {"ended": "interrupted"}


def join(url: str, token: str, *, scripted: str | None = None, echo: Any = print) -> int:
    """Join a shared session: play a scripted slot of the scenario, or read actions from stdin
    (``ACTION key=value ...`` per line; ``say FILE.wav`` sends a push-to-talk clip, ``say``
    alone records 4 s from the microphone). Returns the number of actions and clips sent."""

    async def main() -> int:
        client: TeamClient = TeamClient(url, token)
        welcome = await client.connect()
        echo(f"joined as {welcome['client']} ({welcome['role']}) in {welcome.get('scenario')}")
        if scripted is not None:
            if scripted.split(".", 1)[0] != welcome["role"]:
                await client.close()
                raise VrmedError(f"slot {scripted!r} is not the role this token grants ({welcome['role']})")
            # loaded in a worker thread: blocking this loop for the seconds a pack takes let the
            # server's state messages fill the connection's queue, so its close handshake then
            # stalled for the whole close_timeout (10 s)
            pack = await asyncio.get_running_loop().run_in_executor(None, pack_named, str(welcome.get("pack")))
            spec = team_of(pack.scenario(str(welcome.get("scenario"))))
            if spec is None or scripted not in spec.scripted:
                await client.close()
                raise VrmedError(f"the scenario scripts no slot {scripted!r}")
            player = ScriptedTeamClient(url, token, spec.scripted[scripted])
            player.resume = client.resume  # take over this membership (the role slot stays ours)
            await client.close()
            await player.connect()
            sent = await player.play(timeout=24 * 3600)
            await player.close()
            return sent
        sent = 0
        loop = asyncio.get_running_loop()
        while not client.ended:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            words = line.split()
            if not words:
                continue
            if words[0] == "say":  # push-to-talk: a WAV file, or 4 s from the microphone
                try:
                    wav = Path(words[1]).read_bytes() if len(words) > 1 else record_microphone(min(4.0, MAX_CLIP_S))
                    sha = await client.send_voice(wav)
                except (OSError, VrmedError) as exc:
                    echo(f"not sent: {exc}")
                    continue
                echo(f"clip {sha[:12]} sent")
                sent += 1
                continue
            fields: dict[str, Any] = {}
            for w in words[1:]:
                k, _, v = w.partition("=")
                fields[k] = _value(v)
            await client.act(words[0], **fields)
            sent += 1
        await client.close()
        return sent

    # wss:// checks the server's certificate against the system trust store (SSL_CERT_FILE
    # names a private CA's bundle)
    return asyncio.run(main())


def _value(text: str) -> Any:
    """An option value typed on stdin: a number when it reads as one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


__all__ = ["INSTRUCTOR", "join", "pack_named", "serve", "tls_context"]
