"""Content-addressed cache: entries keyed by a hash of parameters and input fingerprints,
written into a temporary folder and renamed into place, so a reader never sees half an entry."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import __version__

CACHE_FORMAT = 1  # bump when the layout of an entry changes


def fingerprint_files(rows: Iterable[tuple[str, int, int]]) -> str:
    """Hash of ``(relative path, size, mtime_ns)`` rows: changes when any input file changes."""
    digest = hashlib.sha256()
    for rel, size, mtime in sorted(rows):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def cache_key(kind: str, params: dict, fingerprint: str) -> str:
    """Key of an entry: the kind, its parameters, the input fingerprint and the library version
    (a newer library never reads an older library's entry)."""
    payload = json.dumps(
        {
            "kind": kind,
            "params": params,
            "inputs": fingerprint,
            "version": __version__,
            "format": CACHE_FORMAT,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


class Cache:
    """A folder of entries ``<root>/<name>-<key>/``, each with a ``manifest.json``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

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
        tmp = self.root / f".tmp-{name}-{key}-{os.getpid()}-{time.monotonic_ns()}"
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

    def clean(self) -> int:
        """Remove temporary folders left by interrupted writers; returns how many."""
        if not self.root.is_dir():
            return 0
        stale = [p for p in self.root.iterdir() if p.name.startswith(".tmp-")]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)
