"""A Spark standalone cluster (one master, one worker) on 127.0.0.1, for the cluster tests.

pip's pyspark has ``bin/spark-class`` but not the ``sbin/start-*.sh`` scripts, so the master and
the worker are started as the JVM classes themselves.  ``spark-class`` ends in ``exec java``:
the ``Popen`` pid is the JVM's, and :meth:`StandaloneCluster.stop` stops each by that pid
(SIGTERM, then SIGKILL after a grace period).  Everything listens on loopback only
(``SPARK_LOCAL_IP``), the master's REST submission server (fixed port 6066) is off, and every
port is a free one picked at start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


class StandaloneCluster:
    """One master and one worker of ``cores`` cores and ``memory`` memory, under ``root``."""

    def __init__(self, root: Path, cores: int = 2, memory: str = "2g") -> None:
        self.root = Path(root)
        self.cores = cores
        self.memory = memory
        self.master_port = free_port()
        self.url = f"spark://{LOOPBACK}:{self.master_port}"
        self._procs: list[subprocess.Popen] = []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_LOCAL_IP=LOOPBACK,
            SPARK_MASTER_HOST=LOOPBACK,
            SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
            SPARK_LOG_DIR=str(self.root / "logs"),
            SPARK_LOCAL_DIRS=str(self.root / "local"),
            SPARK_DAEMON_MEMORY="512m",
        )
        # The daemons must not inherit the driver's choice of executor Python.
        env.pop("PYSPARK_PYTHON", None)
        return env

    def _launch(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        command = [str(spark_home() / "bin" / "spark-class"), *args]
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.root
        )
        log.close()
        self._procs.append(proc)
        return proc

    def _wait_for(self, name: str, text: str, timeout: float) -> None:
        path = self.root / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in path.read_text(errors="replace"):
                return
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}:\n{path.read_text()[-3000:]}"
                    )
            time.sleep(0.2)
        raise TimeoutError(f"no {text!r} in {path} after {timeout} s:\n{path.read_text()[-3000:]}")

    def start(self, timeout: float = 180.0) -> "StandaloneCluster":
        for sub in ("logs", "local", "work"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._launch(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", LOOPBACK,
            "--port", str(self.master_port),
            "--webui-port", str(free_port()),
        )
        self._wait_for("master", "I have been elected leader", timeout)
        self._launch(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            self.url,
            "--host", LOOPBACK,
            "--port", str(free_port()),
            "--webui-port", str(free_port()),
            "--cores", str(self.cores),
            "--memory", self.memory,
            "--work-dir", str(self.root / "work"),
        )
        self._wait_for("worker", "Successfully registered with master", timeout)
        return self

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM each JVM by pid (worker first), wait up to ``grace`` s, then SIGKILL."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)
        self._procs.clear()
