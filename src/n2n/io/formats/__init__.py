"""Image formats, one module each (:mod:`.png`, :mod:`.jpeg`, :mod:`.tiff`, :mod:`.npy`,
:mod:`.ome_zarr`), described by :class:`.base.Format` and listed in :mod:`.registry`, which
every reader, writer and output check asks for a path's format."""
