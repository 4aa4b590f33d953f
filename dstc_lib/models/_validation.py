"""Parameter checks the neural estimators share: one-line ``ValueError`` messages naming the
parameter, raised before torch sees the value (a torch or math error otherwise)."""

from __future__ import annotations

import numbers

__all__ = ["check_n_clusters", "check_positive_int"]


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; a bool, a float (even ``2e6``), text or None is
    refused in one line naming ``name``.

    Examples
    --------
    >>> check_positive_int(32, "width")
    32
    >>> check_positive_int(2e6, "width")
    Traceback (most recent call last):
    ...
    ValueError: width=2000000.0: must be an integer >= 1, got a float
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name}={value!r}: must be an integer >= {minimum}, got a {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name}={value}: must be an integer >= {minimum}")
    return int(value)


def check_n_clusters(n_clusters: object, n_samples: int | None = None) -> int:
    """``n_clusters`` as an int ``>= 1`` (and at most ``n_samples`` when given).

    Parameters
    ----------
    n_clusters : object
        The estimator's ``n_clusters``.
    n_samples : int, optional
        Rows of ``X``, known at ``fit``; more clusters than samples is refused.

    Returns
    -------
    int

    Examples
    --------
    >>> check_n_clusters(12)
    12
    >>> check_n_clusters(0)
    Traceback (most recent call last):
    ...
    ValueError: n_clusters=0: must be an integer >= 1
    >>> check_n_clusters(40, n_samples=30)
    Traceback (most recent call last):
    ...
    ValueError: n_clusters=40: more clusters than the 30 samples
    """
    k = check_positive_int(n_clusters, "n_clusters")
    if n_samples is not None and k > n_samples:
        raise ValueError(f"n_clusters={k}: more clusters than the {n_samples} samples")
    return k
