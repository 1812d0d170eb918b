"""Counting processes from /proc (Linux): the tests that kill ranks check that none is left behind."""

from __future__ import annotations

import os
from pathlib import Path


def _parent_and_cmdline(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return None
    state_and_rest = stat[stat.rindex(")") + 2 :].split()
    if state_and_rest[0] == "Z":  # a zombie has exited; only its parent's wait is missing
        return None
    return int(state_and_rest[1]), cmdline


def descendants(root: int) -> dict[int, str]:
    """Live processes under `root` (children, grandchildren …) → their command lines."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _parent_and_cmdline(int(entry))) is not None:
            table[int(entry)] = info
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cmdline) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cmdline
                frontier.append(pid)
    return found


def ranks_under(root: int) -> list[int]:
    """The follower ranks (deepfeat.train.follower) running under `root`."""
    return sorted(pid for pid, cmd in descendants(root).items() if "deepfeat.train.follower" in cmd)


def follower_processes() -> list[int]:
    """Every follower rank on this machine started by this user's processes (orphans included)."""
    return sorted(
        int(e)
        for e in os.listdir("/proc")
        if e.isdigit() and (info := _parent_and_cmdline(int(e))) and "deepfeat.train.follower" in info[1]
    )
