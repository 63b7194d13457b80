"""A lead gets data in and hands work out in a real browser: upload → report → import →
cut a batch → assign; the dashboard shows it."""

import json
from pathlib import Path

import pytest

from annotation.models import Batch, Prompt
from annotation.services import claim_next, judgment_submit
from tests.e2e.browser import SCREENSHOTS, demo_records, log_in
from tests.factories import AnnotatorFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_report_import_cut_and_assign(live_server, page, lead, tmp_path):
    project = ProjectFactory(
        created_by=lead, kind="pairwise", name="Support answers — which is better"
    )
    annotators = [AnnotatorFactory(username=name) for name in ("dana", "eli")]
    for user in annotators:
        add_member(project, user)
    records = demo_records(("bank-", "health-", "support-"), 12)
    bad = tmp_path / "prompts-bad.jsonl"
    bad.write_text(
        "\n".join(
            [
                json.dumps(records[0]),
                '{"id": "broken", "messages": [{"role": "assistant", "content": "hi"}]}',
                "{oops",
            ]
        )
        + "\n"
    )
    good = tmp_path / "prompts.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in records))
    base = live_server.url
    log_in(page, base, lead)
    page.click(f"a[href='/projects/{project.pk}/']")
    page.click("text=Import")

    page.set_input_files("#file", str(bad))
    page.click("text=Check file")
    report = page.inner_text("#report")
    assert "2 errors — nothing was imported" in report
    assert "must end with a user turn" in report and "Invalid JSON" in report
    assert not page.is_visible("#confirm-import")
    assert not Prompt.objects.exists()

    page.set_input_files("#file", str(good))
    page.click("text=Check file")
    assert "Ready to import prompts.jsonl" in page.inner_text("#report")
    page.click("#confirm-import")
    page.wait_for_url(f"{base}/projects/{project.pk}/")
    assert "Imported 12 records" in page.inner_text(".messages")
    assert Prompt.objects.filter(project=project).count() == 12

    page.click("text=New batch")
    page.fill("#name", "Week 47")
    page.fill("#size", "20")
    page.fill("#overlap", "2")
    page.check("input[name=annotators][value=dana]")
    page.check("input[name=annotators][value=eli]")
    page.click("text=Cut batch")
    page.wait_for_url(f"{base}/projects/{project.pk}/")
    batch = Batch.objects.get(name="Week 47")
    assert batch.tasks.count() == 20 and batch.overlap == 2
    assert sorted(batch.annotators.values_list("username", flat=True)) == ["dana", "eli"]

    for user in annotators:  # some work, so the dashboard has figures to show
        for _ in range(3):
            claim = claim_next(user=user, project_id=project.pk)
            judgment_submit(user=user, task_id=claim.task_id, choice="A", duration_ms=9000)
    page.wait_for_function(
        "() => document.querySelector('#batches .judged').textContent.trim().startsWith('6 /')",
        timeout=15_000,
    )
    assert page.inner_text("#annotators tr[data-annotator=dana] .judged") == "3"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard.png"), full_page=True)
