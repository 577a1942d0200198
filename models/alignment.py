"""Angles between learning signals: how close a rule's update is to backprop's.

Plain functions over arrays.  Arrays of any shape are compared as flattened
vectors, so a weight matrix ``(n_post, n_pre)`` or a batch of error signals
``(B, n)`` counts as one vector (the convention of Lillicrap et al. 2016,
Fig. 2, and Ahmad et al. 2020, Fig. 1C, for weight updates).

For vectors ``a`` and ``b``::

    cosine(a, b)        = <a, b> / (||a|| ||b||)
    angle_degrees(a, b) = arccos(cosine(a, b)) * 180 / pi      in [0, 180]

Both are NaN when either vector is zero (no direction to compare).

A batch of error signals can also be compared sample by sample:
:func:`mean_row_angle` is the mean over rows ``i`` of ``angle_degrees(a_i, b_i)``
(rows with a zero vector are left out).  The flattened angle weights samples
by the size of their errors; the per-sample mean weights every sample alike.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def cosine(a, b) -> float:
    """Cosine similarity of ``a`` and ``b`` flattened (NaN if either is zero).

    Accumulated in float64 whatever the input dtype, so float32 updates are
    compared as accurately as float64 ones."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of {a.size} and {b.size} elements")
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0.0 or not np.isfinite(norm):
        return float("nan")
    return float(np.clip(np.dot(a, b) / norm, -1.0, 1.0))


def angle_degrees(a, b) -> float:
    """Angle between ``a`` and ``b`` flattened, in degrees: ``arccos(cosine(a, b))``."""
    return float(np.degrees(np.arccos(cosine(a, b))))


def layer_cosines(rule: Sequence, reference: Sequence) -> np.ndarray:
    """``cosine(rule[l], reference[l])`` for each layer l (e.g. weight updates
    of a rule and of backprop, one array per layer)."""
    if len(rule) != len(reference):
        raise ValueError(f"{len(rule)} layers versus {len(reference)} layers")
    return np.array([cosine(a, b) for a, b in zip(rule, reference)])


def layer_angles(rule: Sequence, reference: Sequence) -> np.ndarray:
    """``angle_degrees(rule[l], reference[l])`` for each layer l, in degrees."""
    return np.degrees(np.arccos(layer_cosines(rule, reference)))


def feedback_angles(forward: Sequence, feedback: Sequence) -> np.ndarray:
    """Angle (degrees) between each forward matrix ``W_l`` and the transpose of
    its feedback matrix ``B_l`` (``B_l`` shaped like ``W_l^T``, as in feedback
    alignment; Lillicrap et al. 2016 measure ``angle(W^T, B)``, the same number)."""
    if len(forward) != len(feedback):
        raise ValueError(f"{len(forward)} forward versus {len(feedback)} feedback matrices")
    return np.array([angle_degrees(np.asarray(w), np.asarray(b).T) for w, b in zip(forward, feedback)])


def mean_row_angle(a, b) -> float:
    """Mean over rows of the angle (degrees) between ``a[i]`` and ``b[i]`` for two
    ``(B, n)`` arrays; rows where either vector is zero are left out (NaN if all are)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"mean_row_angle needs two (B, n) arrays of one shape; got {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    keep = norms > 0
    if not keep.any():
        return float("nan")
    cos = np.einsum("ij,ij->i", a[keep], b[keep]) / norms[keep]
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())
