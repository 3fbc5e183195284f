"""Login timing by name: an unknown, a disabled and a locked name cost what a real one costs (one argon2
verification each), so the answer's time does not tell which names exist.

    .venv/bin/python bench/login_timing.py [--tries 20]

Prints the median time of a failed login per kind of name, on a throw-away SQLite database.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from gridgov.accounts import service
from gridgov.accounts.permissions import Role
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.db import make_engine, session_factory
from gridgov.core.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'timing.sqlite3'}")
        upgrade(engine)
        factory = session_factory(engine)
        with factory() as session:
            for name in ("bench.known", "bench.disabled", "bench.locked"):
                user = service.create_user(
                    session,
                    service.NewUser(name, "correct-horse-42", Role.admin, WHOLE_DISTRICT),
                )
                if name == "bench.disabled":
                    service.set_active(session, user, False)
            session.commit()
        with factory() as session:
            for _ in range(service.MAX_FAILURES):
                with contextlib.suppress(service.InvalidCredentials):
                    service.authenticate(session, "bench.locked", "wrong", client_address="192.0.2.1")
            session.commit()
        kinds = {
            "unknown": "bench.nobody",
            "known": "bench.known",
            "disabled": "bench.disabled",
            "locked": "bench.locked",
        }
        for kind, name in kinds.items():
            times = []
            for _ in range(args.tries):
                with factory() as session:
                    start = time.perf_counter()
                    with contextlib.suppress(service.InvalidCredentials, service.LockedOut):
                        service.authenticate(session, name, "wrong-password", client_address="192.0.2.1")
                    times.append(time.perf_counter() - start)
                    session.rollback()
            print(f"{kind:>8}: median {statistics.median(times) * 1000:6.1f} ms over {args.tries} tries")
        engine.dispose()


if __name__ == "__main__":
    main()
