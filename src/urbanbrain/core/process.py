"""Is a process of this machine still there? (Locks and leases take over a dead holder's claim at once.)"""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """True while `pid` runs. A zombie (killed, not yet reaped: common in containers whose first process
    does not reap orphans, e.g. a Ray worker whose raylet was killed with it) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
