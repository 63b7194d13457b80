from django import template

from evaluation.generation.selectors import model_endpoints_visible

register = template.Library()


@register.filter
def may_see_models(user) -> bool:
    """For the navigation: the Models link only for those the page is open to."""
    return model_endpoints_visible(user=user)
