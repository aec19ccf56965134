"""Load the built-in sandbox pack, run its scenario headless, record and replay it.

python examples/run_sandbox.py --headless --frames 270
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from vrmed.recording import SessionLog
from vrmed.session import build_session, open_target, replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--frames", type=int, default=540)
    args = parser.parse_args()
    pack, scenario = open_target("sandbox")
    session = build_session(pack, scenario, seed=11)
    try:
        session.run(frames=args.frames)
        log = session.finish()
        print("events:", session.event_counts(), "summary:", pack.summary(session.app))
    finally:
        session.close()
    with tempfile.TemporaryDirectory() as tmp:
        path = log.write(Path(tmp) / "session.jsonl")
        result, again = replay(SessionLog.read(path))
        again.close()
    print("replay reproduces the session exactly:", result.ok)
    if not result.ok:
        raise SystemExit(result.first_difference)


if __name__ == "__main__":
    main()
