"""The pairwise verdicts, and how a judgment's verdict reads in its task's terms. Plain Python
with no Django, so the dataset checker (``ftapp data check``) can use them without settings.

A judgment's A and B are the left and right of the annotator's screen; a gold answer's, an
adjudication's and every output's are the task's ``response_a`` and ``response_b``."""

A, B, TIE, BOTH_BAD = "A", "B", "tie", "both_bad"
CHOICES = (A, B, TIE, BOTH_BAD)
SIDES = (A, B)  # the verdicts that name a winner


def task_choice(choice: str | None, swapped: bool) -> str | None:
    """A judgment's choice (screen terms) in the task's terms: with ``swapped``, the left
    response was ``response_b``. Blank (a rating) is ``None``."""
    if not choice:
        return None
    if choice in SIDES and swapped:
        return B if choice == A else A
    return choice
