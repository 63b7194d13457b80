from django import template

from annotation.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str, style: str = "chat"):
    return render_markdown(text, style)
