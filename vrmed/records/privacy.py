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
import unicodedata

from .errors import RecordsConfigError

#: Shortest institution secret accepted: shorter keys make the pseudonyms guessable by
#: brute force over likely learner ids.
MIN_SECRET_LENGTH = 16


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
    if len(secret) < MIN_SECRET_LENGTH:
        raise RecordsConfigError(
            f"the institution secret must be at least {MIN_SECRET_LENGTH} characters; set "
            f"VRMED_INSTITUTION_SECRET or institution_secret in the records config file"
        )
    digest = hmac.new(
        secret.encode("utf-8"), normalise_learner_id(learner_id).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return "l-" + digest[:32]
