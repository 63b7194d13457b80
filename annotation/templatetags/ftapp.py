from django import template

from annotation.rendering import render_markdown
from ftapp.pages import in_words

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str, style: str = "chat"):
    return render_markdown(text, style)


@register.filter(name="in_words")
def in_words_filter(name: str) -> str:
    return in_words(name)


@register.filter(name="percent")
def percent_filter(share: float | None) -> str:
    """A share from 0 to 1 as a whole percentage ("87%"); "—" where there is none."""
    return "—" if share is None else f"{share:.0%}"
