"""Where the platform party's job state lives between two frames: files in a store directory.

A platform job (a PSI alignment, an LR or SecureBoost training) used to live in the memory of the one
process that started it. To let any service instance, and any Ray worker, take the next frame, the
state of a job is written after every step and read back by whichever process takes the next one.

``StateStore(root)`` keeps, per job, a folder ``<root>/<job id>/``:

- a *root* file per saved state: a pickle (protocol 5) of the party's job object, named by the digest
  of its content; the saver's caller records that digest (the *ref*) in the database, so the database
  row says which state is current and a half-written file is never current;
- large byte strings and array buffers that the pickle references out of band, each in a file named by
  its digest. A step that changes a few arrays of a job writes only those: the encrypted columns the
  bank sent once, the feature matrix and the PSI tables are written once and shared by every later
  state.

Locks inside the objects (a KKRT job guards its buckets with one) are saved as "a new lock".
The folder holds a job's secrets (PSI scalars, the platform's features, masks): it is created 0700 and
must sit on storage only the platform's service and Ray workers can read. Loading runs ``pickle``:
the store directory is trusted like the platform's key folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["StateStore"]

_MAGIC = b"FCS1"
_OUT_OF_BAND = 64 * 1024  # byte strings and buffers from this size are files of their own
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _digest(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def _check_name(job_id: str) -> str:
    if not job_id or "/" in job_id or "\\" in job_id or job_id in (".", "..") or "\x00" in job_id:
        raise ValueError(f"job id {job_id!r} cannot name a store folder")
    return job_id


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, put: Any) -> None:
        super().__init__(file, protocol=5, buffer_callback=self._buffer)
        self._put = put
        self.buffers: list[str] = []
        self.blobs: set[str] = set()

    def _buffer(self, buf: pickle.PickleBuffer) -> bool:
        raw = buf.raw()
        if raw.nbytes < _OUT_OF_BAND:
            return True  # in band
        self.buffers.append(self._put(raw))
        return False

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is bytes and len(obj) >= _OUT_OF_BAND:
            name = self._put(obj)
            self.blobs.add(name)
            return ("bytes", name)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in _LOCK_TYPES:
            return _new_lock, (type(obj) is _LOCK_TYPES[1],)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, get: Any, buffers: list[bytearray]) -> None:
        super().__init__(file, buffers=buffers)
        self._get = get

    def persistent_load(self, pid: Any) -> Any:
        kind, name = pid
        if kind != "bytes":
            raise pickle.UnpicklingError(f"unknown reference {kind!r} in a saved job state")
        return bytes(self._get(name))


class StateStore:
    """Job states as files under ``root`` (see the module's description). Safe for concurrent writers:
    every file is written under a temporary name and renamed, and content-named files never change."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def job_dir(self, job_id: str) -> Path:
        path = self.root / _check_name(job_id)
        if not path.is_dir():
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.mkdir(exist_ok=True, mode=0o700)
        return path

    # -- whole states ------------------------------------------------------------------------------

    def save(self, job_id: str, obj: Any) -> str:
        """Write ``obj`` and return its ref (the digest of its root file)."""
        folder = self.job_dir(job_id)
        out = io.BytesIO()
        pickler = _Pickler(out, lambda data: self._write(folder, data))
        pickler.dump(obj)
        header = json.dumps({"buffers": pickler.buffers, "blobs": sorted(pickler.blobs)}).encode()
        root = _MAGIC + struct.pack(">I", len(header)) + header + out.getvalue()
        return self._write(folder, root, suffix=".state")

    def load(self, job_id: str, ref: str) -> Any:
        folder = self.root / _check_name(job_id)
        root = self._read(folder, ref, suffix=".state")
        if root[:4] != _MAGIC:
            raise ValueError(f"{ref} in {folder} is not a saved job state")
        (size,) = struct.unpack(">I", root[4:8])
        header = json.loads(root[8 : 8 + size])
        buffers = [bytearray(self._read(folder, name)) for name in header["buffers"]]
        body = io.BytesIO(root[8 + size :])
        return _Unpickler(body, lambda name: self._read(folder, name), buffers).load()

    # -- plain byte strings (a stored reply) -------------------------------------------------------

    def put_bytes(self, job_id: str, data: bytes) -> str:
        return self._write(self.job_dir(job_id), data)

    def get_bytes(self, job_id: str, ref: str) -> bytes:
        return self._read(self.root / _check_name(job_id), ref)

    # -- clean-up ----------------------------------------------------------------------------------

    def prune(self, job_id: str, keep: Iterable[str | None]) -> int:
        """Remove the files of ``job_id`` that none of the states (and byte strings) in ``keep``
        reference; returns how many were removed. Run it under the job's lock."""
        folder = self.root / _check_name(job_id)
        if not folder.is_dir():
            return 0
        wanted: set[str] = set()
        for ref in keep:
            if ref is None:
                continue
            wanted.add(ref)
            path = folder / f"{ref}.state"
            if path.exists():
                wanted.add(f"{ref}.state")
                wanted.update(self._references(path))
        removed = 0
        for path in folder.iterdir():
            if path.name not in wanted and path.stem not in wanted and not path.name.startswith("."):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def drop(self, job_id: str) -> None:
        """Forget a job's states (its secrets) once the job has ended."""
        shutil.rmtree(self.root / _check_name(job_id), ignore_errors=True)

    # -- files -------------------------------------------------------------------------------------

    @staticmethod
    def _references(state_file: Path) -> set[str]:
        """Files a root file references: its out-of-band buffers and its large byte strings."""
        root = state_file.read_bytes()
        (size,) = struct.unpack(">I", root[4:8])
        header = json.loads(root[8 : 8 + size])
        return set(header["buffers"]) | set(header["blobs"])

    @staticmethod
    def _write(folder: Path, data: bytes | memoryview, suffix: str = "") -> str:
        name = _digest(data)
        path = folder / f"{name}{suffix}"
        if not path.exists():
            tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
                fh.write(data)
            os.replace(tmp, path)
        return name

    @staticmethod
    def _read(folder: Path, name: str, suffix: str = "") -> bytes:
        if not name or not all(c in "0123456789abcdef" for c in name):
            raise ValueError(f"{name!r} is not a stored object's name")
        return (folder / f"{name}{suffix}").read_bytes()
