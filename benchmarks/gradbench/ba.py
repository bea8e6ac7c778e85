"""GradBench's ba eval (ADBench's bundle adjustment): reprojection errors of p observations
(Rodrigues rotation, perspective division, two-term radial distortion, focal length and
principal point) weighted by w, the weight errors 1 - w^2, and the sparse Jacobian of both.

The input holds one camera, one point, one weight and one feature, to be duplicated n, m, p
and p times with observation i seeing camera i mod n and point i mod m; the tool must compute
everything for all p observations. The Jacobian's non-zeros are, per observation, a 2 x 15
block (11 camera, 3 point and 1 weight columns) and one entry -2 w_i for each weight error;
they are laid out as ADBench's CSR-like ``SparseMat`` (row pointers, column indices, values;
the reprojection rows first, then the weight rows), of which GradBench transmits the first 30
entries of each list and the last.

The traced per-observation projection is plain NumPy on small vectors (the zero-rotation case
through ``np.where``); ``tg.vmap(tg.jacfwd(...))`` gives all p blocks in one program. The
reference is one observation in plain Python floats, differentiated by central differences.
"""
from __future__ import annotations

import math

import numpy as np

import tracegrad as tg

from .spec import Eval, Function

NCAM = 11
SHOWN = 2 * (NCAM + 4)  # entries of each list GradBench transmits, besides the last one


def _cross(a, b):
    return np.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


def _rotate(rot, pt):
    sqtheta = np.sum(rot * rot)
    nonzero = sqtheta != 0
    # the safe square root keeps the unused branch's derivative finite at rot = 0
    theta = np.sqrt(np.where(nonzero, sqtheta, 1.0))
    w = rot / theta
    rotated = (pt * np.cos(theta) + _cross(w, pt) * np.sin(theta)
               + w * (np.sum(w * pt) * (1 - np.cos(theta))))
    return np.where(nonzero, rotated, pt + _cross(rot, pt))


def reprojection_error(cam, x, w, feat):
    xcam = _rotate(cam[0:3], x - cam[3:6])
    proj = xcam[0:2] / xcam[2]
    rsq = np.sum(proj * proj)
    proj = proj * (1 + cam[9] * rsq + cam[10] * rsq * rsq)
    return w * (proj * cam[6] + cam[7:9] - feat)


def _expand(cam, x, w, feat, n, m, p):
    obs = np.arange(p)
    cams, points = np.tile(cam, (n, 1)), np.tile(x, (m, 1))
    # (np.full(p, w) with a traced w is not traced yet: NumPy converts the fill value itself)
    return cams[obs % n], points[obs % m], w * np.ones(p), np.tile(feat, (p, 1))


def objective(cam, x, w, feat, n, m, p):
    cams, points, weights, feats = _expand(cam, x, w, feat, n, m, p)
    reproj = tg.vmap(reprojection_error)(cams, points, weights, feats)
    return reproj, 1 - weights * weights


def jacobian_values(cam, x, w, feat, n, m, p):
    """The non-zero values in SparseMat order: per observation its two rows of 15, then the
    p weight-error derivatives."""
    cams, points, weights, feats = _expand(cam, x, w, feat, n, m, p)
    blocks = tg.vmap(tg.jacfwd(reprojection_error, argnums=(0, 1, 2)))(
        cams, points, weights, feats)
    rows = np.concatenate([blocks[0], blocks[1], blocks[2][:, :, None]], axis=2)  # (p, 2, 15)
    return np.concatenate([rows.reshape(-1), -2 * weights])


def _prepare(inp):
    f = lambda key: np.asarray(inp[key], dtype=np.float64)
    return (f("cam"), f("x"), f("w"), f("feat")), (int(inp["n"]), int(inp["m"]), int(inp["p"]))


def _build(jac):
    def build(backend, static):
        fn = jacobian_values if jac else objective
        return tg.jit(lambda c, x, w, f: fn(c, x, w, f, *static), backend=backend)
    return build


def sparse_layout(n, m, p):
    """Row pointers and column indices of ADBench's SparseMat, shown part only (first SHOWN
    entries and the last): observation 0's two rows, and the end."""
    cols = []
    for _ in range(2):
        cols += list(range(NCAM)) + [NCAM * n + i for i in range(3)] + [NCAM * n + 3 * m]
    rows = [15 * r for r in range(SHOWN)]  # the reprojection rows come first, 15 entries each
    return rows + [30 * p + p], cols + [NCAM * n + 3 * m + p - 1]


def _post(function, result, inp):
    if function == "objective":
        reproj, werr = (np.asarray(r) for r in result)
        return {"reproj_error": {"elements": [float(v) for v in reproj[0]],
                                 "repeated": int(reproj.shape[0])},
                "w_err": {"element": float(werr[0]), "repeated": int(werr.shape[0])}}
    vals = np.asarray(result)
    rows, cols = sparse_layout(int(inp["n"]), int(inp["m"]), int(inp["p"]))
    return {"rows": rows, "cols": cols,
            "vals": [float(v) for v in vals[:SHOWN]] + [float(vals[-1])]}


def _project_scalar(c, x, w, feat):
    """One observation with Python floats (the reference)."""
    xo = [x[i] - c[3 + i] for i in range(3)]
    rot = c[0:3]
    sq = sum(r * r for r in rot)
    cr = lambda a, b: [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                       a[0] * b[1] - a[1] * b[0]]
    if sq != 0:
        th = math.sqrt(sq)
        wv = [r / th for r in rot]
        wx = cr(wv, xo)
        tmp = sum(wv[i] * xo[i] for i in range(3)) * (1 - math.cos(th))
        xc = [xo[i] * math.cos(th) + wx[i] * math.sin(th) + wv[i] * tmp for i in range(3)]
    else:
        rx = cr(rot, xo)
        xc = [xo[i] + rx[i] for i in range(3)]
    px, py = xc[0] / xc[2], xc[1] / xc[2]
    rsq = px * px + py * py
    big_l = 1 + c[9] * rsq + c[10] * rsq * rsq
    return [w * (px * big_l * c[6] + c[7] - feat[0]), w * (py * big_l * c[6] + c[8] - feat[1])]


def _reference(function, inp):
    cam, x, w, feat = (list(np.atleast_1d(a)) for a in _prepare(inp)[0])
    n, m, p = int(inp["n"]), int(inp["m"]), int(inp["p"])
    w = w[0]
    if function == "objective":
        return {"reproj_error": {"elements": _project_scalar(cam, x, w, feat), "repeated": p},
                "w_err": {"element": 1 - w * w, "repeated": p}}
    params = cam + x + [w]
    block = np.empty((2, 15))
    for j in range(15):
        h = 1e-6 * max(1.0, abs(params[j]))
        up, down = list(params), list(params)
        up[j] += h
        down[j] -= h
        block[:, j] = (np.array(_project_scalar(up[:11], up[11:14], up[14], feat))
                       - np.array(_project_scalar(down[:11], down[11:14], down[14], feat))) / (2 * h)
    rows, cols = sparse_layout(n, m, p)
    return {"rows": rows, "cols": cols, "vals": block.reshape(-1).tolist() + [-2 * w]}


def _generate(size, seed):
    """A camera looking at a point in front of it (GradBench reads one from ADBench's files,
    which are not redistributed here), with ADBench's duplication counts."""
    n, m, p = size
    rng = np.random.default_rng(seed)
    cam = np.concatenate([rng.normal(0, 0.1, 3), rng.normal(0, 1, 3), [rng.uniform(300, 600)],
                          rng.normal(0, 1, 2), rng.normal(0, 0.01, 2)])
    x = cam[3:6] + np.array([0.0, 0.0, -5.0]) + rng.normal(0, 0.5, 3)
    return {"n": n, "m": m, "p": p, "cam": cam.tolist(), "x": x.tolist(),
            "w": float(rng.uniform(0.5, 1.5)), "feat": rng.normal(0, 10, 2).tolist()}


BA = Eval(
    name="ba",
    functions={"objective": Function("objective", _build(False)),
               "jacobian": Function("gradient", _build(True))},
    prepare=_prepare, post=_post, generate=_generate,
    sizes=[(49, 7776, 31843), (21, 11315, 36455), (161, 48126, 182072), (372, 47423, 204472),
           (257, 65132, 225911), (539, 65220, 277273), (93, 61203, 287451),
           (88, 64298, 383937), (810, 88814, 393775), (1197, 126327, 563734),
           (1723, 156502, 678718), (253, 163691, 899155), (245, 198739, 1091386),
           (356, 226730, 1255268)],
    quick_sizes=[(2, 3, 5), (3, 4, 7)],
    bench_sizes=[(49, 7776, 31843), (1197, 126327, 563734), (356, 226730, 1255268)],
    reference=_reference, describe=lambda v: "n={},m={},p={}".format(*v))
