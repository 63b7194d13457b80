"""Annotator reliability and consensus labels by Dawid & Skene (1979), "Maximum likelihood
estimation of observer error-rates using the EM algorithm", Applied Statistics 28(1)."""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse import csr_matrix

from evaluation.stats._arrays import factorize, same_length


@dataclass(frozen=True, slots=True)
class DawidSkene:
    """The fitted model. ``posterior[u, k]`` is the probability that unit ``units[u]`` is
    truly ``classes[k]``, the weighting offered for a consensus label (``label`` is its
    argmax). ``confusion[a, k, l]`` is the chance annotator ``annotators[a]`` says ``l`` when
    the truth is ``k``; ``reliability[a]`` is their chance of being right, sum over k of
    ``priors[k] * confusion[a, k, k]``."""

    units: list
    classes: list
    annotators: list
    posterior: np.ndarray
    label: list
    priors: np.ndarray
    confusion: np.ndarray
    reliability: np.ndarray
    judgments: np.ndarray
    log_likelihood: float
    iterations: int
    converged: bool


def _normalize(log_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of exp(log_weights) scaled to sum to one, and each row's log of the sum. Done in
    column-major order: numpy reduces along a short contiguous axis far faster."""
    columns = np.asfortranarray(log_weights)
    top = columns.max(axis=1)
    weights = np.exp(columns - top[:, None])
    total = weights.sum(axis=1)
    return weights / total[:, None], top + np.log(total)


def dawid_skene(
    unit: ArrayLike,
    annotator: ArrayLike,
    label: ArrayLike,
    *,
    classes: Sequence[Hashable] | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkene:
    """EM over each annotator's confusion matrix and the class priors (Dawid & Skene 1979).

    Starts from the soft majority vote (each unit's vote shares), as the paper does, which
    also fixes which class is which. ``smoothing`` is a Dirichlet pseudo-count added to every
    confusion cell and prior, so one unseen (annotator, truth, label) combination does not
    make a label impossible. Stops when the log-likelihood gains less than ``tol`` per
    judgment, or after ``max_iter`` rounds."""
    unit, annotator, label = np.asarray(unit), np.asarray(annotator), np.asarray(label)
    n_judgments = same_length(unit, annotator, label)
    if n_judgments == 0:
        raise ValueError("No judgments.")
    units, u = factorize(unit)
    annotators, a = factorize(annotator)
    classes, lab = factorize(label, classes)
    n_units, n_annotators, k = len(units), len(annotators), len(classes)

    # votes[u, a * k + l]: how often annotator a said l on unit u. Both EM steps are then
    # one sparse product each, instead of passes over every judgment per class.
    votes = csr_matrix((np.ones(n_judgments), (u, a * k + lab)), shape=(n_units, n_annotators * k))
    posterior = (votes @ np.tile(np.eye(k), (n_annotators, 1))).astype(float)
    posterior /= posterior.sum(axis=1, keepdims=True)
    previous = -np.inf
    log_likelihood = -np.inf
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        # M step: expected counts of (annotator, said, truth) and of each truth.
        counts = (votes.T @ posterior).reshape(n_annotators, k, k) + smoothing
        said_given_truth = counts / counts.sum(axis=1, keepdims=True)
        priors = (posterior.sum(axis=0) + smoothing) / (n_units + k * smoothing)
        # E step: log p(truth) + sum over the unit's judgments of log p(said | truth).
        joint = votes @ np.log(said_given_truth).reshape(n_annotators * k, k)
        joint += np.log(priors)
        posterior, normalizer = _normalize(joint)
        log_likelihood = float(normalizer.sum())
        if log_likelihood - previous < tol * n_judgments:
            converged = True
            break
        previous = log_likelihood
    confusion = np.swapaxes(said_given_truth, 1, 2)
    reliability = np.einsum("k,akk->a", priors, confusion)
    winners = posterior.argmax(axis=1)
    return DawidSkene(
        units=units,
        classes=classes,
        annotators=annotators,
        posterior=posterior,
        label=[classes[i] for i in winners.tolist()],
        priors=priors,
        confusion=confusion,
        reliability=reliability,
        judgments=np.bincount(a, minlength=n_annotators),
        log_likelihood=log_likelihood,
        iterations=iterations,
        converged=converged,
    )
