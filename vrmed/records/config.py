"""Where learning records go: the LRS endpoint and credentials, the institution secret and
the local store folder, read from a YAML file and/or environment variables.

Precedence: environment variables over the file over defaults. The file is the one given
explicitly (``--config`` or ``VRMED_RECORDS_CONFIG``), else ``~/.config/vrmed/records.yaml``
when it exists. See docs/records.md.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import RecordsConfigError

#: Environment variable for each config key.
ENV_VARS: dict[str, str] = {
    "lrs_endpoint": "VRMED_LRS_ENDPOINT",
    "lrs_username": "VRMED_LRS_USERNAME",
    "lrs_password": "VRMED_LRS_PASSWORD",
    "institution_secret": "VRMED_INSTITUTION_SECRET",
    "institution_homepage": "VRMED_INSTITUTION_HOMEPAGE",
    "store_dir": "VRMED_RECORDS_DIR",
    "timeout_s": "VRMED_LRS_TIMEOUT",
    "batch_size": "VRMED_LRS_BATCH_SIZE",
    "trusted_keys": "VRMED_TRUSTED_SIGNING_KEYS",
}
#: Largest records config file read (bytes).
MAX_CONFIG_BYTES = 64 * 1024
#: Keys whose values are credentials: a file holding one must not be readable by others.
SECRET_KEYS = ("lrs_password", "institution_secret")
CONFIG_ENV = "VRMED_RECORDS_CONFIG"


def _home(env: Mapping[str, str]) -> Path:
    # From the given environment, so a caller passing env= is not affected by the real HOME.
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def _default_store(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(_home(env) / ".local" / "share")
    return Path(base) / "vrmed" / "records"


@dataclass(frozen=True)
class RecordsConfig:
    """Resolved records configuration (see docs/records.md for every key)."""

    store_dir: Path
    lrs_endpoint: str | None = None
    lrs_username: str | None = None
    lrs_password: str | None = field(default=None, repr=False)
    institution_secret: str | None = field(default=None, repr=False)
    institution_homepage: str | None = None
    timeout_s: float = 10.0
    batch_size: int = 50
    source: str = "defaults"
    #: Public keys (PEM files) of the simulators whose signed logs ``records add`` accepts;
    #: when any is set, unsigned logs and logs signed by other keys are refused.
    trusted_keys: tuple[Path, ...] = ()
    #: Problems worth telling the operator that do not stop anything (e.g. file permissions).
    warnings: tuple[str, ...] = ()

    def trusted_public_keys(self) -> list[bytes]:
        """The raw Ed25519 public keys of :attr:`trusted_keys` (empty when none is set)."""
        if not self.trusted_keys:
            return []
        try:
            # deferred: `cryptography` is only needed when logs are signed (extra "signing")
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            # deferred: `cryptography` is only needed for signed logs (extra "signing")
            from cryptography.hazmat.primitives.serialization import load_pem_public_key
        except ImportError:
            raise RecordsConfigError(
                "trusted_keys needs the 'cryptography' package (pip install 'vrmed[signing]')"
            ) from None
        keys = []
        for path in self.trusted_keys:
            try:
                key = load_pem_public_key(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise RecordsConfigError(f"{path}: cannot read the trusted signing key ({exc})") from None
            if not isinstance(key, Ed25519PublicKey):
                raise RecordsConfigError(f"{path}: not an Ed25519 public key")
            keys.append(key.public_bytes_raw())
        return keys

    @property
    def homepage(self) -> str | None:
        """The actor account's ``homePage`` (xAPI 1.0.3 Data §2.4.2.4): the configured one,
        else the LRS's origin, else None (statements are then refused, never queued under
        a placeholder: :func:`vrmed.records.xapi.require_homepage`)."""
        if self.institution_homepage:
            return self.institution_homepage
        if self.lrs_endpoint:
            parts = urlsplit(self.lrs_endpoint)
            return f"{parts.scheme}://{parts.netloc}/"
        return None

    def require_secret(self) -> str:
        """The institution secret, or an error saying how to set it."""
        if not self.institution_secret:
            raise RecordsConfigError(
                f"no institution secret configured: set {ENV_VARS['institution_secret']} or "
                f"institution_secret in the records config file (it pseudonymises learner ids)"
            )
        return self.institution_secret

    def require_lrs(self) -> tuple[str, str, str]:
        """Endpoint, user and password of the LRS, or an error naming what is missing."""
        missing = [key for key in ("lrs_endpoint", "lrs_username", "lrs_password") if not getattr(self, key)]
        if missing:
            names = ", ".join(f"{ENV_VARS[k]} (or {k} in the config file)" for k in missing)
            raise RecordsConfigError(f"no learning record store configured: set {names}")
        assert self.lrs_endpoint and self.lrs_username and self.lrs_password
        return self.lrs_endpoint, self.lrs_username, self.lrs_password


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> RecordsConfig:
    """Resolve the configuration from ``path`` (or the default file) and ``env``
    (default: ``os.environ``)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    source = "defaults"
    explicit = path or env.get(CONFIG_ENV)
    file = Path(explicit) if explicit else _home(env) / ".config" / "vrmed" / "records.yaml"
    if explicit and file.exists() and not file.is_file():
        raise RecordsConfigError(f"{file}: not a regular file (a folder or FIFO?); give the records config file")
    if explicit and not file.is_file():
        raise RecordsConfigError(f"{file}: no such records config file")
    warnings: list[str] = []
    if file.is_file():
        try:
            info = file.stat()
            if info.st_size > MAX_CONFIG_BYTES:
                raise RecordsConfigError(f"{file}: larger than {MAX_CONFIG_BYTES} bytes; not a records config file")
            text = file.read_text(encoding="utf-8")
            data = yaml.safe_load(text) or {}
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordsConfigError(f"{file}: cannot read the records config ({exc})") from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise RecordsConfigError(f"{file}: not valid YAML ({_first_line(exc)})") from None
        if not isinstance(data, dict):
            raise RecordsConfigError(f"{file}: expected a mapping of records settings")
        unknown = sorted(set(data) - set(ENV_VARS))
        if unknown:
            raise RecordsConfigError(f"{file}: unknown key {unknown[0]!r}; known keys: {', '.join(ENV_VARS)}")
        values.update(data)
        source = str(file)
        held = [k for k in SECRET_KEYS if data.get(k)]
        if held and os.name == "posix" and info.st_mode & 0o077:
            warnings.append(
                f"{file} holds {' and '.join(held)} but other users can read it (mode "
                f"{stat.filemode(info.st_mode)}); run `chmod 600 {file}`"
            )
    for key, var in ENV_VARS.items():
        if env.get(var):
            values[key] = env[var]
            source = f"{source} + environment" if "environment" not in source else source
    where = source if source != "defaults" else "the environment"
    try:
        timeout = float(values.get("timeout_s", 10.0))
        batch = int(values.get("batch_size", 50))
    except (TypeError, ValueError):
        raise RecordsConfigError(f"{where}: timeout_s must be a number and batch_size an integer") from None
    if not math.isfinite(timeout) or not 0 < timeout <= 3600 or not 1 <= batch <= 1000:
        raise RecordsConfigError(f"{where}: timeout_s must be in (0, 3600] seconds and batch_size in 1..1000")
    endpoint = values.get("lrs_endpoint")
    if endpoint and urlsplit(str(endpoint)).scheme not in ("http", "https"):
        raise RecordsConfigError(
            f"{where}: lrs_endpoint {endpoint!r} must be an http(s) URL such as https://lrs.example.org/xAPI/"
        )
    store = Path(str(values["store_dir"])).expanduser() if values.get("store_dir") else _default_store(env)
    return RecordsConfig(
        store_dir=store,
        lrs_endpoint=str(endpoint) if endpoint else None,
        lrs_username=_opt(values.get("lrs_username")),
        lrs_password=_opt(values.get("lrs_password")),
        institution_secret=_opt(values.get("institution_secret")),
        institution_homepage=_opt(values.get("institution_homepage")),
        timeout_s=timeout,
        batch_size=batch,
        source=source,
        trusted_keys=_key_paths(values.get("trusted_keys")),
        warnings=tuple(warnings),
    )


def _key_paths(value: Any) -> tuple[Path, ...]:
    if not value:
        return ()
    items = value if isinstance(value, list) else str(value).split(os.pathsep)
    return tuple(Path(str(v)).expanduser() for v in items if str(v).strip())


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
