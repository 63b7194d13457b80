"""Every response carries the Content-Security-Policy: scripts and styles only from the app
itself, nothing inline, no eval, no framing, forms post back to the app only.

That the pages work under it is checked in a browser (tests/e2e/test_csp_in_browser.py)."""

import re
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotation.rendering import render_markdown

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXPECTED = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}


def directives(response) -> dict[str, set[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    parsed = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        parsed[name] = set(sources)
    return parsed


def assert_strict(policy: dict[str, set[str]]) -> None:
    assert policy == EXPECTED
    assert not any("unsafe" in source for sources in policy.values() for source in sources)


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/no-such-page/", "/healthz/"])
def test_pages_for_anyone_carry_the_policy(path):
    assert_strict(directives(Client().get(path)))


def test_signed_in_pages_and_the_api_carry_the_policy(lead):
    client = Client()
    client.force_login(lead)
    home = client.get("/")
    assert home.status_code == 200
    assert_strict(directives(home))
    api = APIClient()
    api.force_authenticate(lead)
    for path in ("/api/v1/projects/", "/api/v1/no-such-thing/"):
        response = api.get(path)
        assert response["Content-Type"] == "application/json"
        assert_strict(directives(response))


def test_the_api_docs_load_their_script_from_a_url_and_only_they_allow_data_images():
    client = Client()
    page = client.get("/api/docs/")
    html = page.content.decode()
    assert "<script>" not in html and "<style>" not in html and "style=" not in html
    assert 'src="/api/docs/?script="' in html
    assert directives(page)["img-src"] == {"'self'", "data:"}
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_markdown_table_alignment_is_a_class_not_a_style_attribute():
    html = render_markdown("| left | mid | right |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert "style=" not in html
    assert '<th class="align-left">left</th>' in html
    assert '<td class="align-center">2</td>' in html
    assert '<td class="align-right">3</td>' in html


def test_no_template_has_inline_script_style_or_handler():
    """What the browser test would find on a page it reaches, found in the source."""
    inline = re.compile(r"\sstyle=|<style|<script(?![^>]*\ssrc=)|\son[a-z]+=|hx-on|javascript:")
    for path in TEMPLATES.rglob("*.html"):
        found = inline.search(path.read_text())
        assert found is None, f"{path.relative_to(TEMPLATES)}: {found.group()!r}"
