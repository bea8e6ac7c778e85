"""NumPy implementations of ``real`` and ``imag`` (generated NumPy code calls them as
``rt.real``/``rt.imag``): new arrays, never views of the operand's buffer."""
from __future__ import annotations

import numpy as np


def real(x):
    """The real part as a new array (np.real returns a view, which planned buffers must not be)."""
    return np.array(np.real(x))


def imag(x):
    """The imaginary part as a new array (0 for a real operand, as np.imag)."""
    return np.array(np.imag(x))
