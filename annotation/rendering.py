"""Markdown for untrusted text (model output, guidelines): rendered, then sanitized.

Raw HTML in the source is not passed through; it shows as text. nh3 then keeps only a small
set of tags and attributes and only http(s)/mailto links, so nothing a model writes can run.
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# Model output keeps its single line breaks, as chat interfaces show them; documents such as
# guidelines are wrapped prose, where a single newline is only a space.
_RENDERERS = {
    "chat": MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(
        ["table", "strikethrough"]
    ),
    "document": MarkdownIt("commonmark", {"html": False, "breaks": False}).enable(
        ["table", "strikethrough"]
    ),
}

_ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "s",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "th": {"class"},
    "td": {"class"},
    "ol": {"start"},
}

# A table column's alignment is a class (see app.css): the Content-Security-Policy refuses
# style attributes, which is how markdown-it writes it.
_TABLE_ALIGNMENTS = {f"text-align:{side}": f"align-{side}" for side in ("left", "center", "right")}


def _keep_attribute(tag: str, name: str, value: str) -> str | None:
    if name == "class":
        if tag in {"th", "td"}:
            return value if value in _TABLE_ALIGNMENTS.values() else None
        return value if value.startswith("language-") and value[9:].isidentifier() else None
    return value


def render_markdown(text: str, style: str = "chat") -> SafeString:
    renderer = _RENDERERS[style]
    tokens = renderer.parse(text or "")
    for token in tokens:
        if token.type in {"th_open", "td_open"} and "style" in token.attrs:
            token.attrs = {"class": _TABLE_ALIGNMENTS[str(token.attrs["style"])]}
    html = renderer.renderer.render(tokens, renderer.options, {})
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above
