"""GradBench's ht eval (ADBench's hand tracking; evals/ht/README.md in gradbench/gradbench): the
3n residuals between n observed points and a skinned hand model posed by 26 parameters theta,
and their Jacobian, 3n x 26 ("simple": each point matches a model vertex) or 3n x 28
("complicated": each point matches a point of a model triangle at barycentric coordinates u_i,
and the Jacobian's first two columns hold d err_i / d u_i, a 3 x 2 block per point).

The model: 22 bones in a tree (a parent table), each posed by Euler angles (z y x, ADBench's
C++ sign convention, which the eval's golden tool uses) from theta's finger entries, chained
from the wrist, blended into every vertex by the skinning weights, then rotated (angle-axis
theta[0:3], identity below norm 1e-4) and translated (theta[3:6]).

``hand_errors`` is written once for a NumPy-like module (NumPy for the traced program, jax.numpy
and torch for the peers): the pose is one gather from ``[theta, 0, 1]``, the bone rotations one
batched product, the chain a loop over the 22 bones in the parent table's order (the bone count
is a shape, as lstm's layers are), the skinning one (vertices x bones) @ (bones x 12) product
over the vertices the points use (n, or 3n corners) when they are fewer than the model's
(a static shape test; GradBench's manual Jacobian also differentiates only those), else over
the whole model.
The Jacobian is ``jacfwd`` in theta plus, for the complicated variant, two ``jvp``s with every
u_i's first (then second) coordinate as tangent (err_i depends on u_i alone).

The reference is ADBench's C++ objective transcribed as plain NumPy loops (per bone, per
vertex weight row) sharing no code with ``hand_errors``; its Jacobian is fourth-order central
differences in theta and the closed form in u.

Data: GradBench ships ADBench's hand models and point files (evals/ht/data, MIT licence:
10000 vertices "big", 544 "small", 1084 triangles, 22 bones, 100 to 100000 points). Set
``GRADBENCH_HT_DATA`` to that folder of a GradBench checkout to use them. Otherwise
``generate`` builds a synthetic model of the same shapes (the real parent table; random rigid
bone frames, 1-4 normalised weights a vertex, random triangles, correspondences and points
near the posed model), since the data are not redistributed here.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

import tracegrad as tg

from .spec import Eval, Function

PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19, 0)
BONE_NAMES = ("wrist", *(f"{f}{i}" for f in ("thumb", "index", "middle", "ring", "pinky")
                         for i in range(1, 5)), "forearm")
MODEL_VERTICES = {"big": 10000, "small": 544, "tiny": 40}
TRIANGLES = 1084
POINTS = [100, 192, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 100000]
NTHETA = 26


def pose_index(bones: int, ntheta: int = NTHETA) -> np.ndarray:
    """(bones + 3, 3) positions into ``[theta, 0, 1]``: ADBench's to_pose_params (global
    rotation, scale 1, translation, then per finger the bend of joints 2-4 and the spread of
    joint 2; the wrist, the fingers' first bones and the forearm stay 0)."""
    zero, one = ntheta, ntheta + 1
    idx = np.full((bones + 3, 3), zero, dtype=np.int64)
    idx[0], idx[1], idx[2] = [0, 1, 2], one, [3, 4, 5]
    i_theta, i_pose = 6, 5
    for _finger in range(5):
        for joint in (2, 3, 4):
            idx[i_pose, 0] = i_theta
            i_theta += 1
            if joint == 2:
                idx[i_pose, 1] = i_theta
                i_theta += 1
            i_pose += 1
        i_pose += 1
    return idx


def _euler_rotations(xp, xzy):
    """(bones, 3, 3) Rz @ Ry @ Rx of each bone's (x, z, y) angles."""
    cx, sx = xp.cos(xzy[:, 0]), xp.sin(xzy[:, 0])
    cz, sz = xp.cos(xzy[:, 1]), xp.sin(xzy[:, 1])
    cy, sy = xp.cos(xzy[:, 2]), xp.sin(xzy[:, 2])
    o, z = cx * 0 + 1, cx * 0
    shape = (xzy.shape[0], 3, 3)
    rx = xp.stack([o, z, z, z, cx, -sx, z, sx, cx], -1).reshape(shape)
    ry = xp.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).reshape(shape)
    rz = xp.stack([cz, -sz, z, sz, cz, z, z, z, o], -1).reshape(shape)
    return rz @ ry @ rx


def _angle_axis(xp, aa):
    """Rodrigues' rotation of the angle-axis vector ``aa``; the identity below norm 1e-4 (the
    safe norm keeps the unused branch's derivative finite)."""
    sq = xp.sum(aa * aa)
    small = sq < 1e-8
    n = xp.sqrt(xp.where(small, 1.0, sq))
    x, y, z = aa[0] / n, aa[1] / n, aa[2] / n
    s, c = xp.sin(n), xp.cos(n)
    r = xp.stack([x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
                  x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s,
                  x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c],
                 -1).reshape((3, 3))
    return xp.where(small, xp.asarray(np.eye(3)), r)


def hand_errors(xp, theta, us, base_relatives, inverse_base_absolutes, base_positions,
                weights, points, correspondences, triangles, parents, mirrored):
    """(n, 3) residuals; ``us`` is None for the simple variant (points match vertices)."""
    bones = len(parents)
    pose = xp.concatenate([theta, theta[:2] * 0 + xp.asarray(np.array([0.0, 1.0]))])[
        pose_index(bones, theta.shape[0])]                                 # (bones + 3, 3)
    rotations = _euler_rotations(xp, pose[3:])
    # base_relative @ [[R, 0], [0, 1]]: R replaces the first three columns' mixing
    relatives = xp.concatenate([base_relatives[:, :, :3] @ rotations, base_relatives[:, :, 3:]],
                               2)
    absolutes = []
    for i, parent in enumerate(parents):  # parents come before their children
        absolutes.append(relatives[i] if parent < 0 else absolutes[parent] @ relatives[i])
    transforms = (xp.stack(absolutes) @ inverse_base_absolutes)[:, :3, :]  # (bones, 3, 4)
    # the vertices the points use: each point's own, or its triangle's three corners
    used = correspondences if us is None else triangles[correspondences].reshape(-1)
    # fewer of them than model vertices (a static shape test): skin only those, else skin the
    # whole model and pick them after
    only_used = used.shape[0] < weights.shape[0]
    if only_used:
        weights, base_positions = weights[used], base_positions[used]
    blended = (weights @ transforms.reshape((bones, 12))).reshape((-1, 3, 4))
    positions = (blended * base_positions[:, None, :]).sum(2)             # (vertices, 3)
    if mirrored:
        positions = positions * xp.asarray(np.array([-1.0, 1.0, 1.0]))
    rotation = _angle_axis(xp, pose[0]) * pose[1]                         # scales columns
    # the global transform before the pick, on the fewer rows (its 26 tangents too)
    positions = positions @ rotation.T + pose[2]
    if not only_used:
        positions = positions[used]                                       # (used, 3)
    if us is None:
        return points - positions
    corners = positions.reshape((-1, 3, 3))                               # (n, corner, xyz)
    u0, u1 = us[:, 0:1], us[:, 1:2]
    return points - (u0 * corners[:, 0] + u1 * corners[:, 1] + (1 - u0 - u1) * corners[:, 2])


def hand_jacobian(xp, jacfwd, jvp, theta, us, *data):
    """(3n, 26) or (3n, 28): [d err / d u_i (2 columns, complicated only), d err / d theta]."""
    jt = jacfwd(lambda t: hand_errors(xp, t, us, *data))(theta)           # (n, 3, 26)
    jt = jt.reshape((-1, theta.shape[0]))
    if us is None:
        return jt
    columns = []
    for k in range(2):
        tangent = us * 0 + xp.asarray(np.eye(2)[k])
        columns.append(jvp(lambda u: hand_errors(xp, theta, u, *data), us, tangent)
                       .reshape((-1, 1)))
    return xp.concatenate(columns + [jt], 1)


# --- the protocol's input ----------------------------------------------------------------------
def _prepare(inp):
    model = inp["data"]["model"]
    f = lambda v: np.asarray(v, dtype=np.float64)
    us = f(inp["us"])
    complicated = us.size > 0
    arrays = (f(inp["theta"]), us.reshape(-1, 2) if complicated else None,
              f(model["base_relatives"]), f(model["inverse_base_absolutes"]),
              f(model["base_positions"]), f(model["weights"]), f(inp["data"]["points"]),
              np.asarray(inp["data"]["correspondences"], dtype=np.int64),
              np.asarray(model["triangles"], dtype=np.int64).reshape(-1, 3))
    static = (tuple(int(p) for p in model["parents"]), bool(model["is_mirrored"]), complicated)
    # the simple variant's program has no u argument
    return tuple(a for a in arrays if a is not None), static


def _split(arrays, complicated):
    return (arrays[0], arrays[1], arrays[2:]) if complicated else (arrays[0], None, arrays[1:])


def _model(xp, jacfwd, jvp, jac, static):
    """The eval's function for one system: its array module, forward Jacobian and jvp (whose
    tangent output is taken); the model itself is shared by every system."""
    parents, mirrored, complicated = static

    def f(*arrays):
        theta, us, data = _split(arrays, complicated)
        data = (*data, parents, mirrored)
        if jac:
            return hand_jacobian(xp, jacfwd, lambda g, x, t: jvp(g, (x,), (t,))[1], theta, us,
                                 *data)
        return hand_errors(xp, theta, us, *data).reshape(-1)
    return f


def _build(jac):
    def build(backend, static):
        return tg.jit(_model(np, tg.jacfwd, tg.jvp, jac, static), backend=backend)
    return build


# --- the reference: ADBench's C++ as NumPy loops --------------------------------------------------
def _reference_errors(theta, us, base_relatives, inverse_base_absolutes, base_positions,
                      weights, points, correspondences, triangles, parents, mirrored):
    bones = len(parents)
    pose = np.zeros((bones + 3, 3))
    pose[0], pose[1], pose[2] = theta[0:3], 1.0, theta[3:6]
    i_theta, i_pose = 6, 5
    for _ in range(5):
        for joint in (2, 3, 4):
            pose[i_pose, 0] = theta[i_theta]
            i_theta += 1
            if joint == 2:
                pose[i_pose, 1] = theta[i_theta]
                i_theta += 1
            i_pose += 1
        i_pose += 1
    absolutes = []
    for i in range(bones):
        tx, tz, ty = pose[i + 3]
        rx, ry, rz = np.eye(3), np.eye(3), np.eye(3)
        rx[1, 1] = rx[2, 2] = math.cos(tx)
        rx[2, 1], rx[1, 2] = math.sin(tx), -math.sin(tx)
        ry[0, 0] = ry[2, 2] = math.cos(ty)
        ry[0, 2], ry[2, 0] = math.sin(ty), -math.sin(ty)
        rz[0, 0] = rz[1, 1] = math.cos(tz)
        rz[1, 0], rz[0, 1] = math.sin(tz), -math.sin(tz)
        tr = np.eye(4)
        tr[:3, :3] = rz @ ry @ rx
        relative = base_relatives[i] @ tr
        absolutes.append(relative if parents[i] == -1 else absolutes[parents[i]] @ relative)
    positions = np.zeros((3, base_positions.shape[0]))
    for i in range(bones):
        current = (absolutes[i] @ inverse_base_absolutes[i]) @ base_positions.T
        positions += current[:3] * weights[:, i]
    if mirrored:
        positions[0] *= -1
    aa = pose[0]
    norm = math.sqrt(aa @ aa)
    if norm < 1e-4:
        rotation = np.eye(3)
    else:
        x, y, z = aa / norm
        s, c = math.sin(norm), math.cos(norm)
        rotation = np.array([[x * x + (1 - x * x) * c, x * y * (1 - c) - z * s,
                              x * z * (1 - c) + y * s],
                             [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c,
                              y * z * (1 - c) - x * s],
                             [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s,
                              z * z + (1 - z * z) * c]])
    positions = (rotation * pose[1]) @ positions + pose[2][:, None]
    if us is None:
        return points - positions.T[correspondences], positions
    v = positions.T[triangles[correspondences]]                           # (n, 3 corners, 3)
    u0, u1 = us[:, :1], us[:, 1:]
    return points - (u0 * v[:, 0] + u1 * v[:, 1] + (1 - u0 - u1) * v[:, 2]), positions


def _reference(function, inp):
    arrays, (parents, mirrored, complicated) = _prepare(inp)
    theta, us, data = _split(arrays, complicated)
    data = (*data, parents, mirrored)
    err, positions = _reference_errors(theta, us, *data)
    if function == "objective":
        return err.reshape(-1).tolist()
    h = 1e-4
    columns = []
    for j in range(theta.size):
        at = lambda t, j=j: _reference_errors(theta + t * np.eye(theta.size)[j], us, *data)[0]
        columns.append(((at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)).reshape(-1))
    jac = np.stack(columns, axis=1)
    if complicated:
        # err_i = p_i - (u0 v0 + u1 v1 + (1 - u0 - u1) v2): d/du0 = v2 - v0, d/du1 = v2 - v1
        v = positions.T[data[-3][data[-4]]]                                # (n, 3 corners, 3)
        jac = np.concatenate([(v[:, 2] - v[:, 0]).reshape(-1, 1),
                              (v[:, 2] - v[:, 1]).reshape(-1, 1), jac], axis=1)
    return jac.tolist()


# --- inputs ------------------------------------------------------------------------------------
def _real_file(variant, npts, model_name):
    """ADBench's point file for this size under $GRADBENCH_HT_DATA, or None."""
    root = os.environ.get("GRADBENCH_HT_DATA")
    if not root or model_name not in ("big", "small"):
        return None
    return next(iter(sorted((Path(root) / f"{variant}_{model_name}").glob(
        f"hand*_t26_c{npts}.txt"))), None)


def _read_real(variant, npts, model_name):
    """GradBench's input from ADBench's files (GradBench's evals/ht/io.py, read the same way)."""
    found = _real_file(variant, npts, model_name)
    if found is None:
        return None
    mdir = found.parent / "model"
    bones = np.loadtxt(mdir / "bones.txt", dtype=str, delimiter=":")
    triangles = np.loadtxt(mdir / "triangles.txt", dtype=np.int64, delimiter=":")
    rows = [line.split(":") for line in (mdir / "vertices.txt").read_text().splitlines()]
    positions = np.array([[float(v) for v in r[:3]] + [1.0] for r in rows])
    weights = np.zeros((len(rows), len(bones)))
    for i, r in enumerate(rows):
        for k in range(int(r[8])):
            weights[i, int(r[9 + 2 * k])] = float(r[10 + 2 * k])
    lines = found.read_text().split("\n")
    n, ntheta = (int(v) for v in lines[0].split())
    table = [line.split() for line in lines[1:1 + n]]
    after = 1 + n
    us = []
    if variant == "complicated":
        us = [[float(v) for v in line.split()] for line in lines[after:after + n]]
        after += n
    theta = [float(lines[after + i]) for i in range(ntheta)]
    model = {"bone_count": len(bones), "bone_names": bones[:, 0].tolist(),
             "parents": bones[:, 1].astype(int).tolist(),
             "base_relatives": bones[:, 2:18].astype(float).reshape(-1, 4, 4).tolist(),
             "inverse_base_absolutes": bones[:, 18:34].astype(float).reshape(-1, 4, 4).tolist(),
             "base_positions": positions.tolist(), "weights": weights.tolist(),
             "triangles": triangles.tolist(), "is_mirrored": False}
    return {"theta": theta, "us": us,
            "data": {"model": model, "correspondences": [int(r[0]) for r in table],
                     "points": [[float(v) for v in r[1:]] for r in table]}}


def _rotation(rng):
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _synthetic(variant, npts, model_name, seed):
    """A model of the real one's shapes: the real bone tree, random rigid bone frames a few cm
    apart, 1-4 normalised weights a vertex, random triangles; points near the posed model."""
    rng = np.random.default_rng(seed)
    nv, bones = MODEL_VERTICES[model_name], len(PARENTS)
    relatives = np.tile(np.eye(4), (bones, 1, 1))
    absolutes = []
    for i, parent in enumerate(PARENTS):
        relatives[i, :3, :3] = _rotation(rng)
        relatives[i, :3, 3] = rng.normal(0, 0.03, 3)
        absolutes.append(relatives[i] if parent < 0 else absolutes[parent] @ relatives[i])
    weights = np.zeros((nv, bones))
    for v in range(nv):
        chosen = rng.choice(bones, rng.integers(1, 5), replace=False)
        w = rng.random(len(chosen))
        weights[v, chosen] = w / w.sum()
    positions = np.concatenate([rng.normal(0, 0.05, (nv, 3)), np.ones((nv, 1))], axis=1)
    triangles = rng.integers(0, nv, (TRIANGLES, 3))
    theta = np.concatenate([rng.normal(0, 0.5, 3), rng.normal(0, 1, 3),
                            rng.normal(0, 0.3, NTHETA - 6)])
    us = rng.dirichlet(np.ones(3), npts)[:, :2] if variant == "complicated" else None
    corr = rng.integers(0, TRIANGLES if us is not None else nv, npts)
    data = (relatives, np.linalg.inv(np.stack(absolutes)), positions, weights,
            np.zeros((npts, 3)), corr, triangles, PARENTS, False)
    points = -_reference_errors(theta, us, *data)[0] + rng.normal(0, 0.01, (npts, 3))
    model = {"bone_count": bones, "bone_names": list(BONE_NAMES), "parents": list(PARENTS),
             "base_relatives": relatives.tolist(),
             "inverse_base_absolutes": data[1].tolist(), "base_positions": positions.tolist(),
             "weights": weights.tolist(), "triangles": triangles.tolist(), "is_mirrored": False}
    return {"theta": theta.tolist(), "us": [] if us is None else us.tolist(),
            "data": {"model": model, "correspondences": corr.tolist(), "points": points.tolist()}}


def _generate(size, seed):
    variant, npts, model_name = size
    return _read_real(variant, npts, model_name) or _synthetic(variant, npts, model_name, seed)


def _post(function, result, inp):
    out = np.asarray(result, dtype=np.float64)
    return out.reshape(-1).tolist() if function == "objective" else out.tolist()


def _describe(size):
    variant, npts, model_name = size
    real = _real_file(variant, npts, model_name) is not None
    return f"{variant} {model_name} c={npts}" + ("" if real else " (synthetic)")


# --- peers (peers.py lists them): ``hand_errors`` on each library's arrays ------------------------
def peer_table(peer: str) -> dict:
    make = _jax_entry if peer == "jax" else _torch_entry
    return {"ht": {"objective": make(False), "jacobian": make(True)}}


def _jax_entry(jac):
    def entry(static):
        import jax
        import jax.numpy as jnp
        jf = jax.jit(_model(jnp, jax.jacfwd, jax.jvp, jac, static))
        return (lambda arrays: [jnp.asarray(a) for a in arrays],
                lambda *a: jax.block_until_ready(jf(*a)))
    return entry


def _torch_entry(jac):
    def entry(static):
        import torch
        from torch.func import jacfwd, jvp
        f = _model(torch, jacfwd, jvp, jac, static)

        def call(*arrays):
            with torch.no_grad():  # forward mode only (torch.func), no tape
                return f(*arrays)
        return (lambda arrays: [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays], call)
    return entry


HT = Eval(
    name="ht",
    functions={"objective": Function("objective", _build(False)),
               "jacobian": Function("gradient", _build(True))},
    prepare=_prepare, post=_post, generate=_generate,
    # GradBench's defaults: the big model, the complicated variant, hand1..12
    sizes=[("complicated", c, "big") for c in POINTS],
    # (the last: 60 corners > 40 vertices, the whole-model branch)
    quick_sizes=[("simple", 7, "tiny"), ("complicated", 9, "tiny"), ("complicated", 20, "tiny")],
    bench_sizes=[("simple", 100, "big"), ("simple", 100000, "big"), ("complicated", 100, "big"),
                 ("complicated", 12800, "big"), ("complicated", 51200, "big")],
    reference=_reference, describe=_describe)
