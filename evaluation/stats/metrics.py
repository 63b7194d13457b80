"""Agreement figures that can be accumulated one task at a time, so an export or a report over
millions of judgments needs memory for the categories only, not for the judgments."""

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any


class Coincidences:
    """Krippendorff's coincidence matrix, filled unit by unit (a unit is a task, its values
    the judgments' labels). Alpha follows from the matrix alone, which is what lets it be
    streamed: see Krippendorff, *Computing Krippendorff's Alpha-Reliability* (2011)."""

    def __init__(self) -> None:
        self.matrix: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
        self.units = 0

    def add_unit(self, values: Iterable[Hashable]) -> None:
        values = [v for v in values if v is not None]
        if len(values) == 2:  # the usual overlap, without counting
            first, second = values
            self.units += 1
            self.matrix[first, second] += 1.0
            self.matrix[second, first] += 1.0
            return
        counts = Counter(values)
        pairable = sum(counts.values())
        if pairable < 2:
            return
        self.units += 1
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    self.matrix[c, k] += pairs / (pairable - 1)

    def alpha(self, level: str = "nominal") -> float | None:
        """``nominal`` (labels), ``ordinal`` (ranks: only the order of the values counts) or
        ``interval`` (numbers). ``None`` when there is nothing to compare or no variation."""
        marginals: defaultdict[Hashable, float] = defaultdict(float)
        for (c, _), weight in self.matrix.items():
            marginals[c] += weight
        n = sum(marginals.values())
        if n <= 1 or len(marginals) < 2:
            return None
        delta = _distance(level, marginals)
        observed = sum(w * delta(c, k) for (c, k), w in self.matrix.items())
        expected = sum(
            marginals[c] * marginals[k] * delta(c, k) for c in marginals for k in marginals
        )
        if expected == 0:
            return None
        return 1.0 - (n - 1) * observed / expected


def _distance(level: str, marginals: Mapping[Any, float]):
    if level == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if level == "interval":
        return lambda c, k: float(c - k) ** 2
    if level != "ordinal":
        raise ValueError(f"Unknown level of measurement {level!r}.")
    values = sorted(marginals)
    rank = {v: i for i, v in enumerate(values)}
    cumulative = [0.0]
    for v in values:
        cumulative.append(cumulative[-1] + marginals[v])

    def ordinal(c, k) -> float:
        low, high = sorted((rank[c], rank[k]))
        between = cumulative[high + 1] - cumulative[low]
        return (between - (marginals[c] + marginals[k]) / 2) ** 2

    return ordinal
