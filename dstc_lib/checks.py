"""Input checks shared by the estimators: one-line ``ValueError`` messages that name the
parameter and the problem, raised before anything is fitted (so a failed ``fit`` leaves no fitted
attribute behind)."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = ["check_graph", "check_n_clusters", "check_samples"]


def check_samples(X: object, *, n_features: int | None = None, what: str = "X") -> np.ndarray:
    """``X`` as a float32 array ``(n_samples, n_channels, n_steps)`` with finite values.

    Parameters
    ----------
    X : array-like
        The samples.
    n_features : int, optional
        The ``n_channels * n_steps`` an estimator was fitted on; another size is refused.
    what : str
        The name used in messages.

    Returns
    -------
    numpy.ndarray
        float32, 3-D, at least one sample.

    Examples
    --------
    >>> check_samples(np.zeros((4, 2, 3))).dtype
    dtype('float32')
    >>> check_samples(np.zeros((4, 6)))
    Traceback (most recent call last):
    ...
    ValueError: X: expected an array (n_samples, n_channels, n_steps), got shape (4, 6)
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(
            f"{what}: expected an array (n_samples, n_channels, n_steps), got shape {X.shape}"
        )
    if len(X) == 0 or X.shape[1] * X.shape[2] == 0:
        raise ValueError(f"{what}: empty array of shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{what}: contains NaN or infinite values (fill missing hours first)")
    if n_features is not None and X.shape[1] * X.shape[2] != n_features:
        raise ValueError(
            f"{what}: {X.shape[1]} channels x {X.shape[2]} steps = "
            f"{X.shape[1] * X.shape[2]} features, but the estimator was fitted on {n_features}"
        )
    return X


def check_n_clusters(n_clusters: object, n_samples: int) -> int:
    """``n_clusters`` as an int in ``[1, n_samples]``.

    Examples
    --------
    >>> check_n_clusters(3, 10)
    3
    >>> check_n_clusters(0, 10)
    Traceback (most recent call last):
    ...
    ValueError: n_clusters=0: must be an integer >= 1
    """
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, numbers.Integral):
        raise ValueError(f"n_clusters={n_clusters!r}: must be an integer >= 1")
    if n_clusters < 1:
        raise ValueError(f"n_clusters={n_clusters}: must be an integer >= 1")
    if n_clusters > n_samples:
        raise ValueError(f"n_clusters={n_clusters}: more clusters than the {n_samples} samples")
    return int(n_clusters)


def check_graph(
    graph: object, n_samples: int, *, required: bool = False, who: str = "this estimator"
) -> sp.csr_array | None:
    """The tile graph as a CSR array ``(n_samples, n_samples)``, or None when not given.

    Parameters
    ----------
    graph : scipy sparse matrix or array, or None
        Adjacency whose rows follow the samples.
    n_samples : int
        Rows of ``X``.
    required : bool
        Refuse ``None`` (for the methods that cannot work without a graph).
    who : str
        The estimator's name, for messages.

    Examples
    --------
    >>> check_graph(sp.eye_array(3), 3).shape
    (3, 3)
    >>> check_graph(None, 3, required=True, who="SpatialWard")
    Traceback (most recent call last):
    ...
    ValueError: graph=None: SpatialWard needs graph= (a sparse (n_samples, n_samples) adjacency)
    """
    if graph is None:
        if required:
            raise ValueError(
                f"graph=None: {who} needs graph= (a sparse (n_samples, n_samples) adjacency)"
            )
        return None
    if not sp.issparse(graph):
        raise ValueError(f"graph: expected a scipy sparse matrix, got {type(graph).__name__}")
    if graph.shape != (n_samples, n_samples):
        raise ValueError(
            f"graph: shape {graph.shape} for {n_samples} samples; its rows must follow X's"
        )
    return sp.csr_array(graph)
