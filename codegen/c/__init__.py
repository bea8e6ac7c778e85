"""The C backend: emits C99 for a graph, compiles it once, caches it on disk and loads it as
an extension module (emit, kernels, copies, lowerings, compiler probe, disk cache, loader)."""
