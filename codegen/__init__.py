"""Code generation: graphs to NumPy source (and, later, C kernels) plus the executables that run them."""
