"""Model output is untrusted: it renders as Markdown, and nothing in it can run."""

from html.parser import HTMLParser

import pytest

from annotation.rendering import render_markdown

DANGEROUS = {
    "script": "Here you go <script>alert(document.cookie)</script> done",
    "onerror": 'Look: <img src=x onerror="alert(1)"> and <b onmouseover=alert(2)>hi</b>',
    "javascript_link": "[click me](javascript:alert(1)) or <a href='javascript:alert(1)'>x</a>",
    "javascript_autolink": "<javascript:alert(1)>",
    "iframe": '<iframe src="https://evil.example/"></iframe> and <object data="x"></object>',
    "data_uri_link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "style": '<style>body{display:none}</style><div style="position:fixed">overlay</div>',
    "svg": "<svg onload=alert(1)><circle r=1 /></svg>",
}


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str) -> None:
    for tag, attrs in elements(html):
        assert tag not in {"script", "iframe", "object", "embed", "style", "svg", "img", "form"}
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs or tag in {"td", "th"}
        for url_attr in ("href", "src"):
            value = attrs.get(url_attr, "")
            assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:"))


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
