"""A Ray cluster of separate processes on this machine: a head and N worker nodes (tests, bench, trying it).

Each node is a real `ray start` (its own raylet, object store and worker processes), listening on
loopback only, on ports chosen free, with its session files in a private temporary folder. Every
process of a node carries markers in its environment (`UB_LOCAL_CLUSTER`, `UB_LOCAL_NODE`) naming
this cluster's token, so
`kill_node` and `stop` end exactly the processes this cluster started, found by their ids - never
`ray stop`, which ends every Ray process of the machine, other people's included.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from urbanbrain.core.errors import ConfigurationError

MARK = "UB_LOCAL_CLUSTER"  # no "RAY_" in it: Ray filters some RAY_* names from its agents
NODE = "UB_LOCAL_NODE"
# Ray swaps "127.0.0.1" and "localhost" for the machine's outward address (so other machines can reach a
# node); another loopback address is taken as given, which keeps every node and its traffic on loopback.
NODE_IP = "127.0.0.2"
LOOPBACK_ENV = {"URBANBRAIN_RAY_NODE_IP": NODE_IP}  # the driver's side: `core/ray_backend.py` reads it
STARTS = 3  # tries per worker node
OBJECT_STORE_BYTES = 80 * 1024 ** 2  # Ray's minimum is 75 MiB; syncs pass only small results through it


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now (held open together, so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _ray_exe() -> str:
    exe = Path(sys.executable).with_name("ray")
    if not exe.exists():
        raise ConfigurationError("the `ray` command is not installed beside this Python",
                                 hint="pip install 'urbanbrain[cluster]'")
    return str(exe)


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key in (MARK.encode(), NODE.encode()):
            out[key.decode()] = value.decode(errors="replace")
    return out


@dataclass
class LocalRayCluster:
    """`with LocalRayCluster(workers=2) as c:` then `c.address` (GCS) or `c.client_address` (Ray client)."""

    workers: int = 2
    cpus_per_worker: int = 1
    env: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_hex(6))
    temp_dir: str = ""
    port: int = 0
    client_port: int = 0
    nodes: list[str] = field(default_factory=list)

    def _start(self, name: str, args: list[str]) -> None:
        env = {**os.environ, **self.env, **LOOPBACK_ENV, MARK: self.token, NODE: f"{self.token}/{name}",
               "RAY_USAGE_STATS_ENABLED": "0",
               # a Ray client's server process on the head must answer within this; 30 s is missed under load
               "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180"}
        ports = free_ports(8)
        common = ["--node-ip-address", NODE_IP, "--object-store-memory", str(OBJECT_STORE_BYTES),
                  "--node-manager-port", str(ports[0]), "--object-manager-port", str(ports[1]),
                  "--dashboard-agent-listen-port", str(ports[2]), "--dashboard-agent-grpc-port", str(ports[3]),
                  "--runtime-env-agent-port", str(ports[4]), "--metrics-export-port", str(ports[5]),
                  "--min-worker-port", "0", "--max-worker-port", "0", "--disable-usage-stats"]
        for attempt in range(1, STARTS + 1):
            done = subprocess.run([_ray_exe(), "start", *args, *common], env=env, capture_output=True, text=True,
                                  timeout=180)
            if done.returncode == 0:
                self.nodes.append(name)
                return
            # Ray gives a raylet 30 s to register (hard-coded); a loaded machine can miss that: try again
            self.kill_node(name)
            if attempt == STARTS or name == "head":
                raise ConfigurationError(f"`ray start` for node {name} failed: {done.stderr[-2000:]}",
                                         hint="see the Ray logs under " + self.temp_dir)

    def start(self) -> LocalRayCluster:
        self.temp_dir = tempfile.mkdtemp(prefix="ubray-", dir="/tmp")  # short: Ray's socket paths have a limit
        self.port, self.client_port, dashboard = free_ports(3)
        try:
            self._start("head", ["--head", "--port", str(self.port), "--ray-client-server-port", str(self.client_port),
                                 "--num-cpus", "0", "--temp-dir", self.temp_dir, "--include-dashboard", "false",
                                 "--dashboard-port", str(dashboard)])
            for n in range(self.workers):
                self.add_worker(f"worker-{n}")
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, name: str) -> None:
        self._start(name, ["--address", self.address, "--num-cpus", str(self.cpus_per_worker)])

    @property
    def address(self) -> str:
        return f"{NODE_IP}:{self.port}"

    @property
    def client_address(self) -> str:
        return f"ray://{NODE_IP}:{self.client_port}"

    def driver_env(self) -> dict[str, str]:
        """Environment for a process that drives this cluster (`urbanbrain worker` with ray://auto)."""
        return {**LOOPBACK_ENV, "RAY_ADDRESS": self.address, "URBANBRAIN_ENGINE": "ray://auto"}

    def node_of(self, pid: int) -> str | None:
        """The node a process of this cluster belongs to (a Ray worker running a task, say)."""
        token, _, node = _environ(pid).get(NODE, "").partition("/")
        return node if token == self.token else None

    def pids(self, node: str | None = None) -> list[int]:
        """Processes of this cluster (of one node), found by the marker in their environment."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            env = _environ(int(entry))
            token, _, name = env.get(NODE, "").partition("/")
            ours = env.get(MARK) == self.token or token == self.token  # either marker is enough
            if ours and (node is None or name == node):
                found.append(int(entry))
        return found

    def log_tails(self, pattern: str = "*.err", chars: int = 2000) -> str:
        """The ends of this cluster's Ray log files named by `pattern`, to say why something failed
        before `stop` removes them."""
        logs = sorted(Path(self.temp_dir).glob(f"session_latest/logs/{pattern}")) if self.temp_dir else []
        return "\n".join(f"== {log.name}\n{log.read_text(errors='replace')[-chars:]}" for log in logs)

    def kill_node(self, node: str) -> int:
        """End a node at once (SIGKILL to its raylet and workers), as a lost machine would."""
        pids = self.pids(node)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
