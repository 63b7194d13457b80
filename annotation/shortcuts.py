"""The workspace's keyboard shortcuts, one table per project kind: the shortcut list
(``templates/annotation/partials/shortcuts.html``) is rendered from it, and the keys that pick
a verdict match the ones ``static/js/workspace.js`` acts on (a test holds them together).
Also the starting text of a project's guidelines, which fits its kind."""

from annotation.choices import BOTH_BAD, TIE, A, B
from annotation.models import ProjectKind

# The keys that pick a verdict: (keys shown, what they do, the value they pick).
VERDICT_KEYS: dict[str, list[tuple[tuple[str, ...], str, str]]] = {
    ProjectKind.RATING: [
        (("1",), "rate 1", "1"),
        (("2",), "rate 2", "2"),
        (("3",), "rate 3", "3"),
        (("4",), "rate 4", "4"),
        (("5",), "rate 5", "5"),
    ],
    ProjectKind.PAIRWISE: [
        (("a",), "A is better", A),
        (("b",), "B is better", B),
        (("t",), "Tie", TIE),
        (("n",), "Both bad", BOTH_BAD),
    ],
}

# The keys every workspace has, whatever its kind.
COMMON_KEYS: list[tuple[tuple[str, ...], str]] = [
    (("Enter",), "submit (Ctrl+Enter from a text box)"),
    (("c",), "write a comment"),
    (("r",), "rewrite the answer"),
    (("s",), "skip (give a reason, then Enter)"),
    (("u", "u"), "undo your last judgment (press u twice)"),
    (("g",), "show or hide the guidelines"),
    (("Esc",), "leave a text box; close this"),
    (("Tab",), "with single-key shortcuts off: move between the controls, Enter to use one"),
    (("?",), "show or hide this list"),
]


def shortcut_rows(kind: str) -> list[tuple[tuple[str, ...], str]]:
    """The shortcut list of a workspace of ``kind``: its verdict keys, then the common ones."""
    verdicts = [(keys, label) for keys, label, _ in VERDICT_KEYS.get(kind, [])]
    return verdicts + COMMON_KEYS


GUIDELINES_TEMPLATES = {
    ProjectKind.RATING: """\
# How to rate

Read the conversation, then rate the response from 1 to 5 as an expert in the field would,
for the person who asked. The meaning of each rating is below.

- **Correct first**: a wrong fact or unsafe advice makes a response poor.
- **Helpful next**: does it answer this question, with what the person needs?
- **Then clear**: plain language, no padding.

Rewrite the response when you can fix it quickly. Skip a task you cannot judge, and say why.
""",
    ProjectKind.PAIRWISE: """\
# How to compare

Read the conversation and both responses, then choose: **A is better**, **B is better**,
**Tie** (equally good) or **Both bad** (neither is acceptable).

- **Correct first**: a wrong fact or unsafe advice loses, however well written.
- **Helpful next**: which one answers this question, with what the person needs?
- **Then clear**: plain language, no padding.

Rewrite the better response when you can fix it quickly. Skip a task you cannot judge, and
say why.
""",
}
