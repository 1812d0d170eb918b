"""`deepfeat up`'s Supervisor: exit code 0 when asked to stop (whatever code a child answers SIGTERM
with), 1 when a child stopped by itself first."""

from __future__ import annotations

import os
import signal
import sys
import threading

from deepfeat.processes import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# A child that, like a worker still booting, answers SIGTERM with code 1.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(1)); time.sleep(60)",
]


def test_a_child_that_exits_by_itself_makes_the_supervisor_fail() -> None:
    crashing = [sys.executable, "-c", "raise SystemExit(3)"]
    code = Supervisor({"api": (SLEEPER, dict(os.environ)), "worker": (crashing, dict(os.environ))}).run()
    assert code == 1


def test_a_requested_stop_is_clean_even_when_a_child_answers_sigterm_with_1() -> None:
    supervisor = Supervisor({"api": (SLEEPER, dict(os.environ)), "worker": (STUBBORN, dict(os.environ))})
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    assert supervisor.run() == 0
    assert all(child.poll() is not None for child in supervisor.children.values())
