"""What every exported BioImage Model Zoo package names as its architecture
(``import_from: n2n.bmz``): kept importable for as long as those packages exist. The packaging
code lives in :mod:`n2n.export.bmz`."""

from n2n.export.bmz import network

__all__ = ["network"]
