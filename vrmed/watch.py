"""Hot reload of a pack's YAML while a session runs (``vrmed run --watch``).

When a prefab or scenario file changes, the pack is validated again. If it is valid, every
scenario entity whose component declarations changed gets fresh components built from
the new YAML (the rest of the scene keeps running); if it is invalid, the errors are
reported and the running session is left untouched. Code (``systems.py``) is not hot
reloaded: a change there is reported with a request to restart. A hot-reloaded session is
marked in its log and cannot be replayed exactly.

No code runs because of a reload: a session started without pack code (``--no-pack-code``,
or a YAML-only pack) reloads with pack code disabled, so a ``systems.py`` that appears
while it runs is refused, never imported; a session whose pack has code reloads only while
``systems.py`` is byte-for-byte the one it started with (the loader then reuses the module
already imported instead of executing the file again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .packs.issues import PackError
from .packs.loader import load_pack
from .packs.model import instantiate
from .session import Session


@dataclass
class ReloadResult:
    """What one reload did: components replaced (entity, component name), or the errors."""

    replaced: list[tuple[int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class PackWatcher:
    """Watches a running session's pack folder for edits (by modification time)."""

    def __init__(self, session: Session, *, allow_code: bool | None = None) -> None:
        self.session = session
        self.root = session.pack.root
        #: Whether reloads may use pack code at all: only if the session started with it.
        self.allow_code = (session.pack.module is not None) if allow_code is None else allow_code
        if session.pack.module is None:
            self.allow_code = False
        self._code_hash = self._systems_hash()
        self._stamps = self._scan()
        self.reloads = 0

    def _systems_hash(self) -> str | None:
        path = self.root / "systems.py"
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        except OSError:
            return None

    def _scan(self) -> dict[Path, int]:
        files = [self.root / "pack.yaml", self.root / "systems.py"]
        for sub in ("prefabs", "scenarios"):
            files += sorted((self.root / sub).glob("*.y*ml"))
        return {f: f.stat().st_mtime_ns for f in files if f.is_file()}

    def changed(self) -> list[Path]:
        """Files added, removed or modified since the last check."""
        now = self._scan()
        changed = sorted(set(now.items()) ^ set(self._stamps.items()))
        self._stamps = now
        return sorted({p for p, _ in changed})

    def poll(self) -> ReloadResult | None:
        """Reload if anything changed; None when nothing did."""
        changed = self.changed()
        return self.reload(changed) if changed else None

    def reload(self, changed: list[Path] | None = None) -> ReloadResult:
        """Validate the pack again and apply changed component declarations to live entities."""
        result = ReloadResult()
        session = self.session
        if changed and any(p.name == "systems.py" for p in changed):
            result.notes.append("systems.py changed: code is not hot-reloaded; restart to load it")
        if self.allow_code and self._systems_hash() != self._code_hash:
            # Loading would execute the edited file: the reload waits for a restart instead.
            result.errors = [
                f"{self.root / 'systems.py'}: the pack's code changed since the session started; it is "
                f"never imported while running: restart the session to load it"
            ]
            return result
        try:
            new_pack = load_pack(self.root, session.pack.source, allow_code=self.allow_code)
        except PackError as exc:
            result.errors = [str(i) for i in exc.issues]
            return result
        try:
            new_scenario = new_pack.scenario(session.scenario.name)
        except Exception as exc:  # the scenario was renamed or removed
            result.errors = [str(exc)]
            return result
        if len(new_scenario.entities) != len(session.scenario.entities):
            result.notes.append("entities were added or removed: restart to spawn or despawn them")
        app = session.app
        updates = []
        for entity, old, new in zip(session.spawned, session.scenario.entities, new_scenario.entities):
            for cname, decl in new.components.items():
                before = old.components.get(cname)
                if before is None or before.fields != decl.fields:
                    updates.append((entity, cname, instantiate(decl, new_pack.root)))
        for entity, cname, component in updates:  # built them all first: apply all or nothing
            app.commands.add_component(entity, component)
            result.replaced.append((entity, cname))
        app.commands.apply()
        session.pack, session.scenario = new_pack, new_scenario
        self.reloads += 1
        session.recorder.mark(hot_reloaded=True)  # a streamed log gets it as a meta line
        return result
