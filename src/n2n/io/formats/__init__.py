"""Image formats, one module each, each described by a :class:`.base.Format` and listed in
:mod:`.registry`, which every reader, writer and output check asks for a path's format (how to
add one: docs/development/formats.md)."""
