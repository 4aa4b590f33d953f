import signal
import subprocess
import sys

import pytest

from dstc_lib.cache import Cache, cache_key, fingerprint_files


def test_key_depends_on_params_inputs_and_kind():
    fp = fingerprint_files([("a.txt", 10, 1), ("b.txt", 20, 2)])
    assert fp == fingerprint_files([("b.txt", 20, 2), ("a.txt", 10, 1)])  # order-free
    assert fp != fingerprint_files([("a.txt", 10, 1), ("b.txt", 20, 3)])
    key = cache_key("reduce", {"city": "Paris"}, fp)
    assert key == cache_key("reduce", {"city": "Paris"}, fp)
    assert key != cache_key("reduce", {"city": "Lyon"}, fp)
    assert key != cache_key("other", {"city": "Paris"}, fp)


def test_write_is_atomic_on_error(tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(RuntimeError):
        with cache.write("x", "k1", {}) as tmp:
            (tmp / "data.npy").write_bytes(b"half")
            raise RuntimeError("disk full")
    assert cache.get("x", "k1") is None
    assert list(tmp_path.iterdir()) == []
    with cache.write("x", "k1", {"n": 1}) as tmp:
        (tmp / "data.npy").write_bytes(b"whole")
    assert (cache.get("x", "k1") / "data.npy").read_bytes() == b"whole"


WRITER = """
import sys, time
from dstc_lib.cache import Cache
with Cache(sys.argv[1]).write("x", "k", {}) as tmp:
    (tmp / "part").write_bytes(b"0" * 1000)
    print("writing", flush=True)
    time.sleep(60)
"""


def test_killed_writer_leaves_no_entry(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-")
    cache = Cache(tmp_path)  # opening the cache clears the dead writer's folder
    assert list(tmp_path.iterdir()) == []
    assert cache.get("x", "k") is None
    with cache.write("x", "k", {}) as tmp:
        (tmp / "part").write_bytes(b"1")
    assert cache.get("x", "k") is not None


def test_key_changes_with_the_library_version_and_code(monkeypatch):
    from dstc_lib import cache as cache_mod

    assert len(cache_mod.code_digest()) == 16  # hashes the real sources
    fp = fingerprint_files([("a.txt", 10, 1)])
    key = cache_key("reduce", {}, fp)
    monkeypatch.setattr(cache_mod, "__version__", "99.0")
    newer = cache_key("reduce", {}, fp)
    assert newer != key
    monkeypatch.setattr(cache_mod, "code_digest", lambda: "edited")
    assert cache_key("reduce", {}, fp) not in (key, newer)


def test_a_new_writer_clears_only_dead_writers_temporaries(tmp_path):
    import os

    from dstc_lib.cache import _host

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    names = {
        "dead": f".tmp-x-a-{_host()}-{dead}-1",
        "alive": f".tmp-x-a-{_host()}-{os.getpid()}-1",
        "elsewhere": f".tmp-x-a-another_host-{dead}-1",
        "unknown": ".tmp-x-a-b",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    with Cache(tmp_path).write("x", "k", {}) as tmp:
        assert tmp.name.startswith(f".tmp-x-k-{_host()}-{os.getpid()}-")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([names["alive"], names["elsewhere"], names["unknown"], "x-k"])
