"""The Markdown data card is published beside the dataset, where hubs render it with raw HTML
allowed: every name in it (project, models, metadata, filters) comes out as text."""

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from evaluation.exports.services.files import export_dir
from tests.factories import AnnotatorFactory, assign, build, judge_all, make_project

pytestmark = pytest.mark.django_db

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "`tick` | pipe | ``two``",
    "**bold** _em_ # ~~gone~~ $x$",
    "two\nlines <b onclick=alert(1)>",
    "&lt;script&gt;",
]
MODELS = ["<img src=x onerror=alert(2)>", "m|`x`](javascript:alert(3))"]
# A renderer as a dataset hub runs one: CommonMark with GitHub's tables, raw HTML allowed.
HUB = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
SAFE_TAGS = {
    "h1",
    "h2",
    "p",
    "strong",
    "code",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "li",
}


class Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def hostile_export(lead):
    project = make_project(
        lead,
        name=" ".join(HOSTILE[:4]),
        prompts=3,
        models=MODELS,
        metadata=lambda i: {key: HOSTILE[(i + k) % len(HOSTILE)] for k, key in enumerate(HOSTILE)},
    )
    annotator = AnnotatorFactory()
    assign(project, [annotator])
    judge_all(project, [annotator], lambda index, task: {"rating": 5})
    return build(project, "sft", filters={"models": MODELS, "per_prompt": 2})


def test_every_name_in_the_markdown_card_renders_as_text(hostile_export):
    markdown = (export_dir(hostile_export) / "card.md").read_text()
    parsed = Elements()
    parsed.feed(HUB.render(markdown))
    assert {tag for tag, _ in parsed.tags} <= SAFE_TAGS
    assert all(attrs == [] for _, attrs in parsed.tags)
    # Whole: a pipe would have split a table cell, and a renderer drops the cells past the
    # header's count.
    text = "".join(parsed.text)
    for name in [*HOSTILE, *MODELS]:
        assert name.replace("\n", " ") in text, name
    assert "javascript:" not in "".join(str(attrs) for _, attrs in parsed.tags)
    assert "<script" not in markdown and "<img" not in markdown
