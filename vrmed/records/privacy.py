"""Pseudonymous learner identifiers.

A learner id (a staff number, an e-mail address) never leaves the machine and is never
written to disk: everything vrmed stores or sends is keyed by a pseudonym, an HMAC-SHA256
of the id under the institution's secret. The same learner gets the same pseudonym at the
same institution (so attempts accumulate), but the pseudonym cannot be reversed or
linked across institutions without the secret (keyed hashing, as recommended for
pseudonymisation by ENISA, "Pseudonymisation techniques and best practices", 2019).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata
from collections import Counter

from .errors import RecordsConfigError

#: Shortest institution secret accepted: shorter keys make the pseudonyms guessable by
#: brute force over likely learner ids.
MIN_SECRET_LENGTH = 16
#: Least estimated entropy (bits) of the institution secret. NIST SP 800-107r1 §5.3.4 asks
#: for an HMAC key of at least the security strength wanted. The estimate below only sees
#: character frequencies, so it refuses the obviously guessable ("16 spaces", "aaaa...",
#: "passwordpassword") and is no proof of randomness: 36 bits lets every 16-hex-digit
#: random key through (lowest of 1000 `secrets.token_hex(8)`: 39.6 bits) while the
#: documented `openssl rand -hex 32` scores about 230.
MIN_SECRET_BITS = 36.0
#: Fewest distinct characters in the secret.
MIN_SECRET_DISTINCT = 8


def secret_entropy_bits(secret: str) -> float:
    """An estimate of the secret's entropy: its length times the Shannon entropy of its
    own character frequencies (0 for one repeated character)."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    return n * -sum(c / n * math.log2(c / n) for c in counts.values())


def check_secret(secret: str) -> None:
    """Refuse an institution secret that is too short or too predictable."""
    where = "set VRMED_INSTITUTION_SECRET or institution_secret in the records config file"
    if len(secret) < MIN_SECRET_LENGTH:
        raise RecordsConfigError(f"the institution secret must be at least {MIN_SECRET_LENGTH} characters; {where}")
    if not secret.strip() or len(set(secret)) < MIN_SECRET_DISTINCT or secret_entropy_bits(secret) < MIN_SECRET_BITS:
        raise RecordsConfigError(
            f"the institution secret is too predictable (about {secret_entropy_bits(secret):.0f} bits, "
            f"{len(set(secret))} distinct characters; need {MIN_SECRET_BITS:.0f} bits and "
            f"{MIN_SECRET_DISTINCT}): use a random one, e.g. `openssl rand -hex 32`, and {where}"
        )


def normalise_learner_id(learner_id: str) -> str:
    """Canonical form of a learner id (Unicode NFC, stripped, case-folded), so that
    ``Alice@Example.org `` and ``alice@example.org`` are the same learner."""
    text = unicodedata.normalize("NFC", learner_id).strip().casefold()
    if not text:
        raise RecordsConfigError("the learner id is empty; give the learner's institutional id")
    return text


def pseudonymise(learner_id: str, secret: str) -> str:
    """The learner's pseudonym at this institution: ``"l-"`` + 32 hex digits of
    HMAC-SHA256(secret, normalised id)."""
    check_secret(secret)
    digest = hmac.new(
        secret.encode("utf-8"), normalise_learner_id(learner_id).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return "l-" + digest[:32]
