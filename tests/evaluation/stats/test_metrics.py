"""Krippendorff's alpha from the streamed coincidence matrix, against the published worked
example and against the ``krippendorff`` package."""

import math
import random

import krippendorff
import numpy as np
import pytest

from evaluation.stats.metrics import Coincidences

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1..5, "." where an observer gave none.
PAPER = [
    "1 2 3 3 2 1 4 1 2 . . .",
    "1 2 3 3 2 2 4 1 2 5 . 3",
    ". 3 3 3 2 3 4 2 2 5 1 .",
    "1 2 3 3 2 4 4 1 2 5 1 .",
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849}


def _matrix(rows):
    return [[None if v == "." else int(v) for v in row.split()] for row in rows]


def _streamed(matrix, level):
    coincidences = Coincidences()
    for unit in zip(*matrix, strict=True):
        coincidences.add_unit(unit)
    return coincidences.alpha(level)


@pytest.mark.parametrize("level", sorted(PUBLISHED))
def test_matches_the_worked_example_in_krippendorffs_paper(level):
    assert round(_streamed(_matrix(PAPER), level), 3) == PUBLISHED[level]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_matches_the_krippendorff_package_on_random_data(seed, level):
    rng = random.Random(seed)
    truth = [rng.randint(1, 5) for _ in range(60)]
    matrix = [
        [
            None if rng.random() < 0.3 else
            (t if rng.random() < 0.7 else rng.randint(1, 5))
            for t in truth
        ]
        for _ in range(rng.randint(2, 6))
    ]
    expected = krippendorff.alpha(
        reliability_data=np.array(
            [[np.nan if v is None else v for v in row] for row in matrix], dtype=float
        ),
        level_of_measurement=level,
    )
    assert math.isclose(_streamed(matrix, level), expected, abs_tol=1e-9)


def test_nothing_to_compare_gives_none():
    coincidences = Coincidences()
    coincidences.add_unit([3])
    assert coincidences.alpha("ordinal") is None and coincidences.units == 0
    coincidences.add_unit([2, 2])
    assert coincidences.alpha("nominal") is None  # no variation at all
    coincidences.add_unit(["A", "B"])
    assert coincidences.units == 2
