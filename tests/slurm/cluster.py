"""A throw-away one-node Slurm (munged, slurmctld, slurmd on 127.0.0.1) for the live test.

    python tests/slurm/cluster.py /tmp/slurm   # start one by hand; prints `export SLURM_CONF=...`, Ctrl-C stops it

Everything (munge key and socket, Slurm config, state, logs) lives in one directory; clients find it
through ``SLURM_CONF``. Needs Debian's ``slurm-wlm`` and ``munge`` (22.05 tested) and root or a user
that may run the daemons.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scontrol")


def missing_commands() -> list[str]:
    return [c for c in DAEMONS if shutil.which(c) is None and not Path("/usr/sbin", c).exists()]


def _which(cmd: str) -> str:
    return shutil.which(cmd) or str(Path("/usr/sbin", cmd))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def write_config(root: Path, cpus: int | None = None, mem_mb: int | None = None) -> Path:
    """slurm.conf (from slurm.conf.template) and a munge key under ``root``; returns the slurm.conf path."""
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
    fields = {
        "@DIR@": str(root), "@USER@": getpass.getuser(),
        "@CPUS@": str(cpus or os.cpu_count() or 1),
        # Slurm's view of the node: leave a little for the OS, as `slurmd -C` would.
        "@MEM_MB@": str(mem_mb or max(1000, _mem_mb() - 512)),
        "@CTLD_PORT@": str(_free_port()), "@SLURMD_PORT@": str(_free_port()),
    }
    text = (HERE / "slurm.conf.template").read_text()
    for k, v in fields.items():
        text = text.replace(k, v)
    conf = root / "slurm.conf"
    conf.write_text(text)
    return conf


CLIENTS = ("srun", "sbatch", "squeue", "scancel", "scontrol", "sinfo", "sacct")


def _client_shims(root: Path, conf: Path) -> Path:
    """A bin directory of Slurm clients that always read our slurm.conf.

    Inside a job the executor's jobstep plugin drops every SLURM_* variable (SLURM_CONF too) before it calls
    `srun`; a real cluster's clients find /etc/slurm/slurm.conf, ours would not. Prepending this directory
    to PATH (which jobs inherit) keeps the test free of system-wide files."""
    bindir = root / "bin"
    bindir.mkdir(exist_ok=True)
    for name in CLIENTS:
        real = shutil.which(name)
        if real is None:
            continue
        shim = bindir / name
        shim.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real}" "$@"\n')
        shim.chmod(0o755)
    return bindir


def _wait(predicate, timeout: float, what: str, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tail = "\n".join(f"--- {p}\n{Path(p).read_text()[-3000:]}" for p in logs if Path(p).exists())
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


@contextmanager
def local_slurm(root: Path, cpus: int | None = None, mem_mb: int | None = None, timeout: float = 60):
    """Start munged, slurmctld and slurmd in the foreground (background processes); yield the environment
    (``SLURM_CONF`` set) once ``sinfo`` shows the node idle; stop all three (and cancel jobs) on exit."""
    root = Path(root)
    conf = write_config(root, cpus, mem_mb)
    env = dict(os.environ, SLURM_CONF=str(conf), PATH=f"{_client_shims(root, conf)}:{os.environ.get('PATH', '')}")
    procs: list[subprocess.Popen] = []

    def start(args, log):
        fh = open(root / log, "ab")
        procs.append(subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    try:
        munge = root / "munge"
        start([_which("munged"), "--foreground", "--force", f"--socket={munge}/munge.socket",
               f"--key-file={munge}/munge.key", f"--pid-file={munge}/munged.pid",
               f"--seed-file={munge}/munged.seed", f"--log-file={munge}/munged.log"], "munged.out")
        _wait(lambda: (munge / "munge.socket").exists(), timeout, "munged", [munge / "munged.log",
                                                                              root / "munged.out"])
        start([_which("slurmctld"), "-D", "-i", "-f", str(conf)], "slurmctld.out")
        start([_which("slurmd"), "-D", "-f", str(conf), "-N", "localhost"], "slurmd.out")

        def idle():
            p = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True)
            states = p.stdout.split()
            return p.returncode == 0 and bool(states) and all(s == "idle" for s in states)

        logs = [root / f for f in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")]
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited with {p.returncode}")
        _wait(idle, timeout, "the node to be idle in sinfo", logs)
        yield env
    finally:
        if procs[1:]:
            subprocess.run(["scancel", "--full", "--user", getpass.getuser()], env=env, capture_output=True)
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/robuniv-slurm")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` also stops the daemons
    with local_slurm(target) as env:
        print(f"export SLURM_CONF={env['SLURM_CONF']} PATH={target / 'bin'}:$PATH   # Slurm is up; Ctrl-C stops it",
              flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
