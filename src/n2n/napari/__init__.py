"""The napari plugin (npe2, manifest ``napari.yaml``): Denoise, Train and Diagnose widgets and a
sample burst. It sits on top of the library and drives it as a user would (``pip install
'n2n-lite[napari]'``)."""
