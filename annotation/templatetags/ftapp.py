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
