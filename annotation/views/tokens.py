"""The API tokens page: each user names, creates and revokes their own tokens.

Plain POST forms, so it works without JavaScript. A new token's key appears once, in the
response to the POST that created it, and is stored nowhere: only its hash is kept.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from annotation.selectors import api_token_list
from annotation.services import api_token_create, api_token_revoke
from ftapp.pages import for_page, form_errors


@login_required
@never_cache  # the response to a creation carries the key: no browser or proxy may keep it
@require_http_methods(["GET", "POST"])
def tokens(request):
    context: dict[str, Any] = {"name": "", "error": "", "created": None, "key": ""}
    if request.method == "POST":
        name = request.POST.get("name", "")
        context["name"] = name
        with form_errors(context, fields=("name",)):
            token, key = api_token_create(user=request.user, name=name)
            # Rendered here rather than after a redirect, because carrying the key across a
            # redirect would mean writing it into the session or a cookie.
            context.update(name="", created=token, key=key)
    context["tokens"] = api_token_list(user=request.user)
    return render(request, "annotation/tokens.html", context)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    # Someone else's token is reported exactly like a missing one: a 404.
    token = for_page(api_token_revoke, user=request.user, token_id=token_id)
    messages.success(request, f"Token “{token.name}” revoked: the API now refuses it.")
    return redirect("tokens")
