"""Render workers end with their parent; huge index ranges are streamed, not listed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

from synthgap.generators.run.runner import PendingIndices

_PARENT = textwrap.dedent("""
    import multiprocessing as mp, os, sys, time
    from synthgap.generators.run.runner import die_with_parent

    def child(parent, path):
        die_with_parent(parent, poll_s=0.1)
        open(path, "w").write(str(os.getpid()))
        time.sleep(120)

    if __name__ == "__main__":
        p = mp.get_context("spawn").Process(target=child, args=(os.getpid(), sys.argv[1]))
        p.start()
        time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def test_worker_dies_when_its_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    pidfile = tmp_path / "child.pid"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    parent = subprocess.Popen([sys.executable, str(script), str(pidfile)], env=env)
    try:
        # generous deadlines (a loaded machine starts Python slowly); a pass takes ~1 s
        deadline = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 30  # the child polls its parent every 0.1 s
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the worker outlived its killed parent"
    finally:
        parent.kill()


def test_pending_indices_stream_without_a_list():
    tracemalloc.start()
    todo = PendingIndices(100_000_000, frozenset({0, 2, 99_999_999}))
    first = [i for _, i in zip(range(3), todo, strict=False)]
    n = len(todo)
    shards = [todo.shard(w, 4) for w in range(4)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert first == [1, 3, 4] and n == 100_000_000 - 3
    assert sum(len(s) for s in shards) == n and peak < 1 << 20
    small = PendingIndices(10, frozenset({3, 4}))
    assert sorted(i for s in (small.shard(0, 3), small.shard(1, 3), small.shard(2, 3))
                  for i in s) == [0, 1, 2, 5, 6, 7, 8, 9]
