"""Every primitive's declaration with its traits and derivative rules; importing this package
registers them all (NumPy lowerings: tracegrad/codegen/numpy_lowerings.py)."""
from __future__ import annotations

from . import contraction, control, custom, elementwise, fused, reductions, sources, structural  # noqa: F401
from . import linalg, linalg_eig, linalg_lu, linalg_svd  # noqa: F401  (factorisations, solves)
from .contraction import dot_general_p  # noqa: F401
from .random import random_bits_p  # noqa: F401  (counter-based random words)
from .conv import conv_p  # noqa: F401
from .complex_parts import conj_p, imag_p, real_p  # noqa: F401  (complex values apart)
from .fft import fft_p  # noqa: F401  (np.fft's transforms)
from .sort import argsort_p  # noqa: F401
from .special_incomplete import betainc_p, gammainc_p, gammaincc_p  # noqa: F401
from .control import cond_p, scan_p, while_p  # noqa: F401
from .custom import custom_jvp_call_p, custom_vjp_call_p  # noqa: F401
from .elementwise import ELEMENTWISE, convert_p, select_p, stop_gradient_p  # noqa: F401
from .fused import fused_p  # noqa: F401
from .reductions import (argmax_p, argmin_p, cumsum_p, reduce_max_p, reduce_min_p,  # noqa: F401
                         reduce_prod_p, reduce_sum_p)
from .sources import constant_p, iota_p  # noqa: F401
from .structural import (broadcast_in_dim_p, concatenate_p, gather_p, pad_p, reshape_p,  # noqa
                         rev_p, scatter_add_p, slice_p, transpose_p)
