"""Markup that must render inert wherever untrusted text is shown, and the check for it."""

from html.parser import HTMLParser

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
