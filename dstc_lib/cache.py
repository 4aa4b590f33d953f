"""Content-addressed cache: entries keyed by a hash of parameters and input fingerprints,
written into a temporary folder and renamed into place, so a reader never sees half an entry."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import __version__

CACHE_FORMAT = 1  # bump when the layout of an entry changes
CODE_MODULES = ("cache.py", "study_calendar.py", "netmob.py", "reduce.py")


def fingerprint_files(rows: Iterable[tuple[str, int, int | str]]) -> str:
    """Hash of ``(relative path, size, mtime_ns)`` rows: changes when a file is added, removed,
    renamed, resized or touched. An edit that keeps both the size and the modification time is
    not seen; for certainty, put each file's :func:`content_digest` in place of its mtime
    (``dstc data check --verify``).

    Examples
    --------
    >>> a = fingerprint_files([("Paris/x.txt", 10, 1)])
    >>> a == fingerprint_files([("Paris/x.txt", 10, 2)]), len(a)
    (False, 64)
    """
    digest = hashlib.sha256()
    for rel, size, mtime in sorted(rows):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def content_digest(path: Path | str, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes (as stored: a ``.gz`` file's compressed bytes), read in
    bounded chunks.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> content_digest(path)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """Hash of the source of the modules that compute cached entries: an edited reader or
    reduction (even without a new version number) never reads an older entry."""
    digest = hashlib.sha256()
    for module in CODE_MODULES:
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()[:16]


def cache_key(kind: str, params: dict, fingerprint: str) -> str:
    """Key of an entry: the kind, its parameters, the input fingerprint, the library version
    and :func:`code_digest` (a newer library never reads an older library's entry)."""
    payload = json.dumps(
        {
            "kind": kind,
            "params": params,
            "inputs": fingerprint,
            "version": __version__,
            "code": code_digest(),
            "format": CACHE_FORMAT,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


class Cache:
    """A folder of entries ``<root>/<name>-<key>/``, each with a ``manifest.json``.

    Opening a cache removes the temporary folders of writers that died on this machine (a
    killed run's ``.tmp-*``), so they never outlive the next use of the cache, hit or miss.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.clean(dead_only=True)

    def path(self, name: str, key: str) -> Path:
        return self.root / f"{name}-{key}"

    def get(self, name: str, key: str) -> Path | None:
        """The entry's folder if it is complete, else None."""
        path = self.path(name, key)
        return path if (path / "manifest.json").is_file() else None

    @contextlib.contextmanager
    def write(self, name: str, key: str, manifest: dict) -> Iterator[Path]:
        """Yield a temporary folder to fill; on success it becomes the entry, atomically.

        If the body raises (or the process dies), the final entry does not appear; leftovers
        of dead writers are temporary folders that :meth:`clean` removes.
        """
        final = self.path(name, key)
        self.clean(dead_only=True)
        # the writer is named in the folder's name, so that it is known from the first moment
        tmp = self.root / f".tmp-{name}-{key}-{_host()}-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir(parents=True)
        try:
            yield tmp
            manifest = {**manifest, "key": key, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            try:
                os.rename(tmp, final)
            except OSError:  # another writer finished first: same key, same content
                if not (final / "manifest.json").is_file():
                    raise
                shutil.rmtree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def clean(self, dead_only: bool = False) -> int:
        """Remove temporary folders left by interrupted writers; returns how many. With
        ``dead_only``, only those whose writing process (on this machine) is gone."""
        if not self.root.is_dir():
            return 0
        stale = [p for p in self.root.iterdir() if p.name.startswith(".tmp-")]
        if dead_only:
            stale = [p for p in stale if not _writer_alive(p.name)]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())


def _writer_alive(tmp_name: str) -> bool:
    """Whether the process writing ``.tmp-<name>-<key>-<host>-<pid>-<ns>`` may still be running
    (another machine's writer, or a name not of that form: assume so)."""
    parts = tmp_name.rsplit("-", 3)
    if len(parts) != 4 or parts[1] != _host() or not parts[2].isdigit():
        return True
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True
