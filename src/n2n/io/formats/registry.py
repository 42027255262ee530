"""The formats n2n-lite reads and writes, and the one place a path's format is decided.

Adding a format is one module in this package (a :class:`~n2n.io.formats.base.Format` called
``FORMAT``) and one entry below; everything that reads, writes, checks, streams or claims an
output asks :func:`format_for` instead of looking at suffixes.
"""

from __future__ import annotations

from pathlib import Path

from n2n.errors import N2NError
from n2n.io.formats import jpeg, npy, ome_zarr, png, tiff, webp
from n2n.io.formats.base import Format

FORMATS: tuple[Format, ...] = (  # one line each; a file's content is tried in this order
    png.FORMAT,
    jpeg.FORMAT,
    tiff.FORMAT,
    npy.FORMAT,
    ome_zarr.FORMAT,
    webp.FORMAT,
)

_BY_SUFFIX = {suffix: f for f in FORMATS for suffix in f.suffixes}
# files of single images: what a folder of inputs is searched for
IMAGE_SUFFIXES = tuple(s for f in FORMATS if f.read is not None for s in f.suffixes)


def suffixes(formats: tuple[Format, ...] = FORMATS) -> str:
    """The suffixes of ``formats``, for a message: ".png, .jpg, ..."."""
    return ", ".join(s for f in formats for s in f.suffixes)


def known(path: str | Path) -> Format | None:
    """The format ``path``'s suffix names, else one that recognises the path by its content
    (an OME-Zarr folder); None for neither."""
    path = Path(path)
    found = _BY_SUFFIX.get(path.suffix.lower())
    if found is None and path.is_dir():
        found = next((f for f in FORMATS if f.claims is not None and f.claims(path)), None)
    return found


def format_for(path: str | Path, *, content: bool = False) -> Format:
    """The format of ``path``: by its suffix (or, for a folder, its content); with ``content``,
    a file whose first bytes are another format's signature is that format (a PNG saved under
    a .jpg name). An unknown suffix is one N2NError naming the file and the supported ones."""
    path = Path(path)
    found = known(path)
    if found is None:
        suffix = path.suffix.lower() or "(no suffix)"
        raise N2NError(f"{path}: unsupported format '{suffix}' (n2n-lite reads and writes "
                       f"{suffixes()})")
    if content and path.is_file():
        with open(path, "rb") as f:
            head = f.read(16)
        found = next((f for f in FORMATS if f.signature and head.startswith(f.signature)),
                     found)
    return found


def with_feature(feature: str) -> tuple[Format, ...]:
    """The formats that provide ``feature`` (``"read_stack"``, ``"planes"``, ``"blocks"``...)."""
    return tuple(f for f in FORMATS if getattr(f, feature) is not None)
