"""Spectral analysis of embedding training (paper 5, arXiv 2406.17378, spectral analysis; the authors'
`spectral_analyze.py`; the formula as a third-party note writes it, see docs in the method notes).

X (N, d): the backbone's embeddings of N texts; Y (N, d): the embedder's embeddings of the same texts.
  X = U S Vᵀ, the SVD of X **without centering**; u_j = the j-th right singular vector (column j of V);
  v_j = mean_i (Y_i − X_i) · u_j                    the mean shift along component j;
  h = (h·u_1) u_1 + (h − (h·u_1) u_1)                the first component and the rest;
  h_adj = h + λ u_1, λ = v_1 (or a chosen value)     the adjustment that the paper decodes.
Singular vectors have an arbitrary sign; v_j and λ u_j flip with it, so h + v_1 u_1 does not depend on it.
"""

from __future__ import annotations

import numpy as np


def right_singular_vectors(backbone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(singular values (r,), V (d, r)) of the uncentered X (N, d), r = min(N, d), largest first."""
    _, values, vt = np.linalg.svd(np.asarray(backbone, dtype=np.float64), full_matrices=False)
    return values, vt.T


def mean_shift(backbone: np.ndarray, embedder: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(r,) v_j = mean_i (Y_i − X_i) · u_j for the columns u_j of `directions` (d, r)."""
    if np.shape(backbone) != np.shape(embedder):
        raise ValueError(f"backbone embeddings {np.shape(backbone)} and embedder embeddings {np.shape(embedder)} "
                         "differ in shape (same texts, same width needed)")
    shift = np.asarray(embedder, dtype=np.float64) - np.asarray(backbone, dtype=np.float64)
    return shift.mean(axis=0) @ directions


def first_component(h: np.ndarray, u1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(projection (N, d), residual (N, d)) of rows h on the unit vector u1."""
    projection = (np.asarray(h, dtype=np.float64) @ u1)[:, None] * u1[None, :]
    return projection, h - projection


def adjust(h: np.ndarray, u1: np.ndarray, lam: float) -> np.ndarray:
    """h + λ u_1 for every row of h (N, d)."""
    return np.asarray(h, dtype=np.float64) + lam * u1[None, :]
