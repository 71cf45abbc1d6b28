"""The one cache folder of compiled artefacts, and the keys that make a stale entry impossible.

Default location: the user cache directory (``platformdirs.user_cache_dir("bayes_gravity")``,
``~/.cache/bayes_gravity`` on Linux); ``BAYES_GRAVITY_CACHE_DIR`` overrides it. Layout::

    programs/<key>/     a serialised chain program (jax.export) and its DataTree labels
    priors/<key>.nc     prior draws of a model for one seed (drawn once by PyMC)
    xla/                JAX's persistent compilation cache (compiled executables)
    pytensor/           PyTensor's compile directory (the nutpie and PyMC samplers)
    numba/              numba's cache (the same)

Deleting the folder gives a cold run. A key hashes everything that changes the artefact: the
parts of the spec that shape the model, the dataset's content hash, the chain settings, the
versions of every package on the path, this package's own source, and the platform. Entries
are written to a temporary name and renamed, so a killed writer leaves no partial entry and
two writers of one key leave one valid entry. An entry that fails to load is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_VAR = "BAYES_GRAVITY_CACHE_DIR"
# Bump when the layout of an entry changes.
FORMAT = 1
# Packages whose version changes a traced program or its compiled code.
PROGRAM_PACKAGES = ("jax", "jaxlib", "blackjax", "pymc", "pytensor", "numpy")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """Return the cache folder (created on first use)."""
    override = os.environ.get(ENV_VAR)
    if override:
        root = Path(override).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("bayes_gravity"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def point_compilers_at_cache() -> None:
    """Send PyTensor's and numba's on-disk caches into the cache folder.

    Only effective before PyTensor / numba are imported (the CLI calls it first thing), so
    that the samplers which use them (nutpie, PyMC) also start cold when the folder is gone.
    """
    root = cache_dir()
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "base_compiledir" not in flags:
        entry = f"base_compiledir={root / 'pytensor'}"
        os.environ["PYTENSOR_FLAGS"] = f"{flags},{entry}" if flags else entry
    os.environ.setdefault("NUMBA_CACHE_DIR", str(root / "numba"))


def source_hash() -> str:
    """Hash of this package's Python source: any code change invalidates every entry."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def versions(packages: tuple[str, ...] = PROGRAM_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` ("absent" for a missing one)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def make_key(parts: dict[str, Any]) -> str:
    """Hash ``parts`` with the entry format, package versions and source into a key."""
    payload = {
        "format": FORMAT,
        "versions": versions(),
        "source": source_hash(),
        **parts,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def entry(kind: str, key: str) -> Path:
    """Path of the entry ``key`` of ``kind`` (``programs``, ``priors``)."""
    return cache_dir() / kind / key


def commit_folder(kind: str, key: str, write: Any) -> Path:
    """Write an entry folder through ``write(tmp_folder)`` and rename it into place."""
    final = entry(kind, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.{os.getpid()}-", dir=final.parent))
    try:
        write(tmp)
        if final.exists():  # another process wrote the same key meanwhile: keep theirs
            shutil.rmtree(tmp)
            return final
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def discard(kind: str, key: str, reason: str) -> None:
    """Remove an entry that failed to load, so it is rebuilt."""
    log.warning("cache entry %s/%s is unusable (%s); rebuilding it", kind, key, reason)
    shutil.rmtree(entry(kind, key), ignore_errors=True)


TREE_FILE = "tree.nc"


def memo_tree(parts: dict[str, Any], compute: Any) -> Any:
    """Return the DataTree ``compute()`` gives for ``parts``, computed once and cached.

    For results that are a fixed function of the key (prior draws for one model and seed):
    the stored tree has the same numbers as a fresh ``compute()``.
    """
    import xarray as xr

    key = make_key(parts)
    path = entry("priors", key) / TREE_FILE
    if path.is_file():
        try:
            with xr.open_datatree(path, engine="h5netcdf") as tree:
                return tree.load()
        except Exception as err:  # a damaged entry: draw again
            discard("priors", key, f"{type(err).__name__}: {err}")
    tree = compute()
    folder = commit_folder(
        "priors", key, lambda tmp: tree.to_netcdf(tmp / TREE_FILE, engine="h5netcdf")
    )
    # read back, so a cold run hands on exactly what a warm one will read
    with xr.open_datatree(folder / TREE_FILE, engine="h5netcdf") as stored:
        return stored.load()
