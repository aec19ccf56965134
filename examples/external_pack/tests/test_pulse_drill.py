"""The pack's own tests (run after `pip install`)."""

from vrmed.packs import all_packs, load_pack
from vrmed.session import build_session


def _ref():
    refs, _ = all_packs()
    (ref,) = [r for r in refs if r.name == "pulse_drill"]
    return ref


def test_installed_pack_is_discovered_through_its_entry_point():
    ref = _ref()
    assert ref.source.startswith("entry point pulse_drill (vrmed-pulse-drill)")


def test_only_the_long_enough_touch_counts():
    session = build_session(load_pack(_ref().root), None)
    try:
        session.run()
        summary = session.pack.summary(session.app)
    finally:
        session.close()
    # First contact lasts ~0.7 s (counts), the second ~0.15 s (too short).
    assert summary == {"pulse_checks": [1]}
