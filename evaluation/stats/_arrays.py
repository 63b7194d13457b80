"""Array helpers shared by the statistics: label coding, intervals, the cluster bootstrap."""

from collections.abc import Hashable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

# Bootstrap index matrices are drawn this many cells at a time, so memory stays in the tens of
# megabytes however many clusters there are.
_BOOTSTRAP_CELLS = 4_000_000


def factorize(
    values: ArrayLike, categories: Sequence[Hashable] | None = None
) -> tuple[list, np.ndarray]:
    """The distinct values (sorted, or ``categories`` in their order) as Python scalars, and
    each item's code into them. A value outside ``categories`` is an error."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError("Expected a one-dimensional array.")
    uniques, codes = np.unique(array, return_inverse=True)
    found = uniques.tolist()
    if categories is None:
        return found, codes.astype(np.intp, copy=False)
    position = {c: i for i, c in enumerate(categories)}
    unknown = [v for v in found if v not in position]
    if unknown:
        raise ValueError(f"Values outside the categories: {unknown[:5]!r}.")
    remap = np.array([position[v] for v in found], dtype=np.intp)
    return list(categories), remap[codes]


def same_length(*arrays: np.ndarray) -> int:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"Arrays of different lengths: {sorted(lengths)}.")
    return lengths.pop() if lengths else 0


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927); ``(nan, nan)`` when n is 0."""
    if n <= 0:
        return float("nan"), float("nan")
    z = norm.ppf(0.5 + level / 2)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def cluster_bootstrap_means(
    values: np.ndarray, cluster: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the mean of ``values``, resampling whole clusters
    (tasks or prompts) with replacement, since judgments of one prompt are not independent
    (Davison & Hinkley 1997, §3.8). Each replicate is a ratio of cluster sums."""
    _, codes = np.unique(cluster, return_inverse=True)
    sums = np.bincount(codes, weights=values)
    counts = np.bincount(codes).astype(float)
    n_clusters = len(sums)
    replicates = np.empty(n_boot)
    step = max(1, _BOOTSTRAP_CELLS // max(n_clusters, 1))
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        picks = rng.integers(0, n_clusters, size=(stop - start, n_clusters))
        replicates[start:stop] = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    return replicates


def percentile_interval(replicates: np.ndarray, level: float, axis: int = 0) -> np.ndarray:
    """The bootstrap percentile interval: lower and upper quantiles stacked on axis 0."""
    tail = (1 - level) / 2
    return np.quantile(replicates, [tail, 1 - tail], axis=axis)


def cluster_bootstrap_sums(
    cluster: np.ndarray,
    column: np.ndarray,
    weight: np.ndarray,
    width: int,
    n_boot: int,
    rng: np.random.Generator,
    *,
    dense: bool = False,
) -> np.ndarray:
    """Column sums of ``weight`` (rows falling in ``column`` out of ``width``), observed and
    resampled by whole clusters (tasks) with replacement (Davison & Hinkley 1997, §3.8):
    row 0 is observed, rows 1.. the ``n_boot`` replicates.

    Clusters with the same per-cluster sums (profile) are interchangeable, so drawing n
    clusters with replacement is one multinomial draw over the distinct profiles, weighted by
    how many clusters share each: the same distribution as drawing cluster indices, at a cost
    that grows with the number of distinct profiles (a few dozen for a contingency table)
    rather than with the clusters (Bradley–Terry's bootstrap here does the same with its
    tables). Profiles are told apart by two random projections of the sums, computed from
    the rows without building the clusters-by-columns matrix: two different profiles would
    have to coincide on both to be merged, a chance nil in floating point. ``dense``: the
    clusters are already codes 0..m-1, every one present (spares a sort)."""
    cluster = np.asarray(cluster)
    codes = cluster if dense else np.unique(cluster, return_inverse=True)[1].reshape(-1)
    result = np.zeros((n_boot + 1, width))
    if not len(codes):
        return result
    size = int(codes.max()) + 1
    first_projection, second_projection = np.random.default_rng(20_240_601).random((2, width))
    keys = np.bincount(codes, weights=weight * first_projection[column], minlength=size)
    keys = keys + 1j * np.bincount(
        codes, weights=weight * second_projection[column], minlength=size
    )
    _, first, shared = np.unique(keys, return_index=True, return_counts=True)
    representative = np.full(size, -1, dtype=np.intp)
    representative[first] = np.arange(len(first))
    kept = representative[codes] >= 0
    profiles = np.bincount(
        representative[codes[kept]] * width + column[kept],
        weights=weight[kept],
        minlength=len(first) * width,
    ).reshape(len(first), width)
    n_clusters = int(shared.sum())
    result[0] = shared @ profiles
    if n_boot:
        draws = rng.multinomial(n_clusters, shared / n_clusters, size=n_boot)
        result[1:] = draws.astype(float) @ profiles
    return result
