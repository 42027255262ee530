"""The one exception users see: a problem with their input, stated in one line."""


class N2NError(ValueError):
    """Bad input or a failed step, with a message naming the file or value and the problem.

    The CLI prints it as one line and exits non-zero; the Python API lets it propagate.
    """
