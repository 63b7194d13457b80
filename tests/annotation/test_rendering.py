"""Model output is untrusted: it renders as Markdown, and nothing in it can run."""

import pytest

from annotation.rendering import render_markdown
from tests.rendering import DANGEROUS, assert_inert, elements


@pytest.mark.parametrize("name", sorted(DANGEROUS))
def test_dangerous_markup_renders_inert(name):
    assert_inert(render_markdown(DANGEROUS[name]))


def test_raw_html_shows_as_text_so_the_reviewer_sees_what_the_model_wrote():
    html = render_markdown("<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_and_code_render():
    html = render_markdown(
        "# Title\n\n**bold** and `code`\n\n```python\nprint('<b>')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com)"
    )
    tags = [tag for tag, _ in elements(html)]
    assert {"h1", "strong", "code", "pre", "table", "a"} <= set(tags)
    assert '<code class="language-python">' in html
    assert "print(&#39;&lt;b&gt;&#39;)" in html or "print('&lt;b&gt;')" in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_code_classes_are_limited_to_languages():
    html = render_markdown('```python" onclick="x\ncode\n```')
    assert_inert(html)
    assert "onclick" not in html.split(">")[1]
