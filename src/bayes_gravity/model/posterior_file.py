"""The posterior file: ``posterior.nc`` read back whole, or refused, and its checksum.

HDF5 checks its metadata but not the array bytes, so a checksum of the arrays travels in
the file's attributes; a missing, truncated, foreign or damaged file is a
:class:`~bayes_gravity.errors.ResultsError` naming it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from bayes_gravity.errors import ResultsError
from bayes_gravity.io import finish_commits


def read_posterior(path: str | Path) -> Any:
    """Open a saved posterior; a missing, truncated or foreign file is a :class:`ResultsError`."""
    import xarray as xr

    path = Path(path)
    try:
        finish_commits(path.parent)  # a fit killed while renaming its files into place
    except OSError as err:
        raise ResultsError(
            f"{path.parent} holds an interrupted commit that cannot be completed ({err}); refit"
        ) from None
    if not path.is_file():
        raise ResultsError(f"no posterior at {path}; run `fit` first")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load()  # in memory: the file is closed again (no handle left open)
    except Exception as err:  # h5py/h5netcdf/xarray raise many types on a damaged file
        raise ResultsError(
            f"{path} is not a readable posterior file ({type(err).__name__}: {err}); refit"
        ) from None
    if "bayes_gravity_spec" not in tree.attrs or "posterior" not in tree.children:
        raise ResultsError(f"{path} is not a bayes_gravity posterior (attributes missing); refit")
    stored = tree.attrs.get(CHECKSUM_ATTR)
    if stored is not None and stored != content_checksum(tree):
        raise ResultsError(
            f"{path} is corrupted: its arrays do not match the checksum written with them; refit"
        )
    return tree


CHECKSUM_ATTR = "content_sha256"


def stamp_checksum(path: Path) -> None:
    """Store the checksum of the arrays as read back from ``path`` (what readers will see).

    Computed on the written file, not on the tree in memory: netCDF changes some dtypes on
    the way (``None`` messages become NaN, object strings fixed-width).
    """
    import h5py
    import xarray as xr

    with xr.open_datatree(path, engine="h5netcdf") as tree:
        digest = content_checksum(tree.load())
    with h5py.File(path, "r+") as handle:
        handle.attrs[CHECKSUM_ATTR] = digest


def content_checksum(tree: Any) -> str:
    """SHA-256 of every array in a DataTree (names, shapes, values; not the attributes).

    HDF5 checks its metadata but not the array bytes, so damage inside the draws would load
    silently; this checksum, written with the file, catches it. Values are hashed in a
    canonical dtype, so the in-memory tree and the one read back from netCDF agree.
    """
    digest = hashlib.sha256()
    for node in sorted(tree.subtree, key=lambda n: n.path):
        ds = node.to_dataset()
        for name in sorted(map(str, ds.variables)):
            values = np.asarray(ds[name].values)
            digest.update(f"{node.path}/{name}{values.shape}".encode())
            if values.dtype.kind in "biu":
                values = values.astype(np.int64)
            elif values.dtype.kind == "f":
                values = values.astype(np.float64)
            else:
                values = np.asarray([str(v) for v in values.ravel()], dtype=object)
                digest.update("\x1f".join(values).encode())
                continue
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()
