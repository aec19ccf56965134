"""One home for simulation settings: display rate, stage rates and XPBD substeps.

:class:`SimSettings` is built once per App, from the defaults below laid under the
scenario's ``rates:`` overrides (and any programmatic override such as a replay's recorded
rates), and inserted as an App resource. The schedule takes its rates from it; feature
code reads ``app.resource(SimSettings)`` instead of re-deriving a substep count or a
substep length from the clock. It is frozen: the schedule's accumulators were built from
it, so changing it mid-session would desynchronise the two.

Rates are exact :class:`fractions.Fraction` values in Hz, so derived quantities (physics
ticks per display frame, the substep length) are exact too and identical on every machine.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import ConfigError
from .schedule import STAGES

#: A rate as accepted from YAML or Python (stored as an exact Fraction).
RateLike = Fraction | int | float

#: Default display rate: a 90 Hz headset (11.1 ms per frame).
DEFAULT_DISPLAY_RATE = Fraction(90)
#: Default physics rate: 10 ticks per 90 Hz frame, the 10 substeps per frame that "Small
#: Steps" (Macklin et al. 2019) and our tissue benchmarks use.
DEFAULT_PHYSICS_RATE = Fraction(900)
#: Default logic rate: the simulation rate scenarios are written for.
DEFAULT_LOGIC_RATE = Fraction(60)
#: Default XPBD substeps per physics tick: one, so the physics rate *is* the substep rate
#: and contacts (solved once per tick) see every substep.
DEFAULT_SUBSTEPS_PER_TICK = 1

#: Keys of a scenario's ``rates:`` mapping: ``display``, each stage, and ``substeps``.
OVERRIDE_KEYS: tuple[str, ...] = ("display", *STAGES, "substeps")


class SettingsError(ConfigError):
    """An invalid simulation setting; ``key`` is the override key at fault (e.g. ``physics``)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(message)


def to_fraction(value: Any, what: str, key: str = "") -> Fraction:
    """Convert a rate or duration to an exact fraction, rejecting non-positive or non-finite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise SettingsError(key, f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(key, f"{what} must be a positive finite number, got {value!r}")
    # str() first: 0.1 is exactly 1/10 as written, not the nearest binary double.
    frac = value if isinstance(value, Fraction) else Fraction(str(value))
    if frac <= 0:
        raise SettingsError(key, f"{what} must be a positive finite number, got {value!r}")
    return frac


def _optional_rate(value: Any, what: str, key: str) -> Fraction | None:
    if value is None:
        return None
    return to_fraction(value, what, key)


#: Physically sensible bounds (pack values are untrusted: a display rate of 1e-300 Hz or a
#: physics rate of 1e12 Hz validated and then hung the session). Headsets refresh at
#: 60-144 Hz and haptic loops at about 1 kHz, so these leave room without being endless.
MIN_RATE_HZ = Fraction(1, 10)
MAX_DISPLAY_HZ = 1000
MAX_STAGE_HZ = 100_000
MAX_TICKS_PER_FRAME = 10_000
MAX_SUBSTEPS = 1000


def _check_bounds(values: dict[str, Any]) -> None:
    display = values["display_rate"]
    if not MIN_RATE_HZ <= display <= MAX_DISPLAY_HZ:
        raise SettingsError(
            "display", f"display rate must be between 0.1 and {MAX_DISPLAY_HZ} Hz, got {float(display):g}"
        )
    for name, rate in values.items():
        if not name.endswith("_rate") or name == "display_rate" or rate is None:
            continue
        key = name.removesuffix("_rate")
        if not MIN_RATE_HZ <= rate <= MAX_STAGE_HZ:
            raise SettingsError(key, f"{key} rate must be between 0.1 and {MAX_STAGE_HZ} Hz, got {float(rate):g}")
        if rate / display > MAX_TICKS_PER_FRAME:
            raise SettingsError(
                key,
                f"{key} rate {float(rate):g} Hz is over {MAX_TICKS_PER_FRAME} ticks per {float(display):g} Hz frame",
            )
    if values["substeps_per_tick"] > MAX_SUBSTEPS:
        raise SettingsError("substeps", f"substeps per physics tick must be at most {MAX_SUBSTEPS}")


def _substeps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError("substeps", f"substeps per physics tick must be an integer >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True, init=False)
class SimSettings:
    """The simulation's rates and substeps (an App resource; read it, never re-derive it).

    ``display_rate``: display frames per second. ``physics_rate``, ``logic_rate`` and the
    rarely set ``input_rate``/``control_rate``/``record_rate``/``render_rate``: ticks per
    second of that stage, or ``None`` for once per display frame. ``substeps_per_tick``:
    XPBD substeps the tissue solve takes inside one physics tick. All rates are stored as
    exact fractions (Hz).

    >>> s = SimSettings(physics_rate=1000)
    >>> s.physics_ticks_per_frame, s.substep_dt
    (Fraction(100, 9), Fraction(1, 1000))
    """

    display_rate: Fraction
    physics_rate: Fraction | None
    logic_rate: Fraction | None
    substeps_per_tick: int
    input_rate: Fraction | None
    control_rate: Fraction | None
    record_rate: Fraction | None
    render_rate: Fraction | None

    def __init__(
        self,
        *,
        display_rate: RateLike = DEFAULT_DISPLAY_RATE,
        physics_rate: RateLike | None = DEFAULT_PHYSICS_RATE,
        logic_rate: RateLike | None = DEFAULT_LOGIC_RATE,
        substeps_per_tick: int = DEFAULT_SUBSTEPS_PER_TICK,
        input_rate: RateLike | None = None,
        control_rate: RateLike | None = None,
        record_rate: RateLike | None = None,
        render_rate: RateLike | None = None,
    ) -> None:
        # frozen: assign through object.__setattr__ once, after validating every value.
        values = {
            "display_rate": to_fraction(display_rate, "display rate", "display"),
            "physics_rate": _optional_rate(physics_rate, "physics rate", "physics"),
            "logic_rate": _optional_rate(logic_rate, "logic rate", "logic"),
            "substeps_per_tick": _substeps(substeps_per_tick),
            "input_rate": _optional_rate(input_rate, "input rate", "input"),
            "control_rate": _optional_rate(control_rate, "control rate", "control"),
            "record_rate": _optional_rate(record_rate, "record rate", "record"),
            "render_rate": _optional_rate(render_rate, "render rate", "render"),
        }
        _check_bounds(values)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # -- overrides --------------------------------------------------------------------
    def with_overrides(self, overrides: Mapping[str, Any], where: str = "rates") -> SimSettings:
        """These settings with ``overrides`` laid over them.

        ``overrides`` uses the keys of a scenario's ``rates:`` mapping: ``display``, a
        stage name (``physics: null`` runs that stage once per display frame) and
        ``substeps``. ``where`` names the mapping in error messages.
        """
        fields = self._as_kwargs()
        for key, value in overrides.items():
            if key not in OVERRIDE_KEYS:
                close = difflib.get_close_matches(str(key), OVERRIDE_KEYS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise SettingsError(
                    str(key), f"unknown key {key!r} in {where}; {hint}allowed keys: {', '.join(OVERRIDE_KEYS)}"
                )
            if key == "display":
                if value is None:
                    raise SettingsError("display", "display rate must be a number, got None")
                fields["display_rate"] = value
            elif key == "substeps":
                fields["substeps_per_tick"] = value
            else:
                fields[f"{key}_rate"] = value
        return SimSettings(**fields)

    def overrides(self) -> dict[str, Any]:
        """What differs from the defaults, as a scenario's ``rates:`` mapping would state it."""
        default = SimSettings()._as_kwargs()
        out: dict[str, Any] = {}
        for key, (name, value) in zip(OVERRIDE_KEYS, self._as_kwargs().items(), strict=True):
            if value != default[name]:
                out[key] = value
        return out

    def _as_kwargs(self) -> dict[str, Any]:
        # In OVERRIDE_KEYS order: display, the stages, substeps.
        out: dict[str, Any] = {"display_rate": self.display_rate}
        out.update({f"{s}_rate": getattr(self, f"{s}_rate") for s in STAGES})
        out["substeps_per_tick"] = self.substeps_per_tick
        return out

    # -- stage rates ----------------------------------------------------------------
    def stage_rate(self, stage: str) -> Fraction | None:
        """The rate of a stage in Hz, or None when it runs once per display frame."""
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        rate: Fraction | None = getattr(self, f"{stage}_rate")
        return rate

    @property
    def rates(self) -> dict[str, Fraction | None]:
        """Every stage's rate (None: once per display frame), in stage order."""
        return {s: self.stage_rate(s) for s in STAGES}

    # -- derived values (exact) -----------------------------------------------------
    @property
    def frame_dt(self) -> Fraction:
        """Length of a display frame in seconds."""
        return 1 / self.display_rate

    @property
    def physics_dt(self) -> Fraction:
        """Length of one physics tick in seconds (a display frame when physics runs per frame)."""
        return self.frame_dt if self.physics_rate is None else 1 / self.physics_rate

    @property
    def logic_dt(self) -> Fraction:
        """Length of one logic tick in seconds (a display frame when logic runs per frame)."""
        return self.frame_dt if self.logic_rate is None else 1 / self.logic_rate

    @property
    def physics_ticks_per_frame(self) -> Fraction:
        """Physics ticks per display frame on average (10 at the defaults; 100/9 for 1 kHz at
        90 Hz, where frames alternate between 11 and 12 ticks)."""
        return self.frame_dt / self.physics_dt

    @property
    def substeps_per_frame(self) -> Fraction:
        """XPBD substeps per display frame on average (ticks per frame x substeps per tick)."""
        return self.physics_ticks_per_frame * self.substeps_per_tick

    @property
    def substep_dt(self) -> Fraction:
        """Exact length of one XPBD substep in seconds (physics tick / substeps per tick)."""
        return self.physics_dt / self.substeps_per_tick

    @property
    def h(self) -> float:
        """The substep length in seconds as the solver computes it in floating point:
        ``float(physics_dt) / substeps_per_tick``, exactly what ``step_softbody`` does with
        the clock's ``dt``, so contacts and the tissue solve use bit-identical ``h``."""
        return float(self.physics_dt) / self.substeps_per_tick

    # -- session logs ---------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """The effective settings for a session-log header (exact values as strings)."""
        return {
            "display_rate": str(self.display_rate),
            "rates": {s: (None if r is None else str(r)) for s, r in self.rates.items()},
            "substeps_per_tick": self.substeps_per_tick,
        }

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> SimSettings:
        """The settings a session log's header recorded (see :meth:`header`); a log from
        before substeps were recorded ran at one substep per tick."""
        rates = header.get("rates")
        if not isinstance(rates, Mapping):
            raise ConfigError("the session log's header records no stage rates; it cannot be replayed exactly")
        overrides: dict[str, Any] = {s: (None if r is None else Fraction(str(r))) for s, r in rates.items()}
        overrides["display"] = Fraction(str(header.get("display_rate", DEFAULT_DISPLAY_RATE)))
        overrides["substeps"] = int(header.get("substeps_per_tick", DEFAULT_SUBSTEPS_PER_TICK))
        return cls().with_overrides(overrides, where="the session log's header")


__all__ = [
    "DEFAULT_DISPLAY_RATE",
    "DEFAULT_LOGIC_RATE",
    "DEFAULT_PHYSICS_RATE",
    "DEFAULT_SUBSTEPS_PER_TICK",
    "OVERRIDE_KEYS",
    "SettingsError",
    "SimSettings",
    "to_fraction",
]
