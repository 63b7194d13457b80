import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation.models import BatchAssignment, Project, Prompt, Task

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_demo_seeds_users_and_two_projects_and_is_rerunnable(var_dir, capsys):
    call_command("demo", no_serve=True)
    first_output = capsys.readouterr().out
    passwords = json.loads((var_dir / "demo_credentials.json").read_text())
    User = get_user_model()
    for username in ["admin", "lead", "annotator1", "annotator2"]:
        user = User.objects.get(username=username)
        assert user.check_password(passwords[username])
        assert f"password: {passwords[username]}" in first_output
    assert User.objects.get(username="admin").is_superuser

    from evaluation.management.commands.demo import JUDGED

    judged = Project.objects.get(name=JUDGED)
    projects = {p.kind: p for p in Project.objects.exclude(pk=judged.pk)}
    assert set(projects) == {"rating", "pairwise"}
    for project in projects.values():
        assert Prompt.objects.filter(project=project).count() >= 40
        assert project.memberships.filter(role="annotator").count() == 2
        assert not Task.objects.filter(project=project, batch__isnull=True).exists()
    rating_tasks = Task.objects.filter(project=projects["rating"]).count()
    assert rating_tasks == sum(p.responses.count() for p in projects["rating"].prompts.all())
    pairwise = Task.objects.filter(project=projects["pairwise"]).select_related(
        "response_a", "response_b"
    )
    assert all(t.response_a.model_name != t.response_b.model_name for t in pairwise)
    assert BatchAssignment.objects.filter(batch__project__in=projects.values()).count() == 4
    # Only the rating project has a rating scale in its guidelines.
    anchors = {kind: p.guidelines.get().rating_anchors for kind, p in projects.items()}
    assert anchors["rating"]["5"] and anchors["pairwise"] == {}
    assert judged.guidelines.get().rating_anchors == {}
    # The judged project: every slot of every task judged by the three simulated experts.
    assert judged.kind == "pairwise"
    tasks = Task.objects.filter(project=judged)
    assert tasks.exists() and all(t.judgment_count == 3 for t in tasks)
    assert not User.objects.get(username="expert3").has_usable_password()

    counts = (Prompt.objects.count(), Task.objects.count(), User.objects.count())
    call_command("demo", no_serve=True)
    assert "already there" in capsys.readouterr().out
    assert (Prompt.objects.count(), Task.objects.count(), User.objects.count()) == counts
    assert json.loads((var_dir / "demo_credentials.json").read_text()) == passwords


def test_demo_fixture_is_in_the_import_format():
    from evaluation.management.commands.demo import FIXTURE

    records = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert len(records) >= 40 and len({r["id"] for r in records}) == len(records)
    domains = {r["metadata"]["domain"] for r in records}
    assert {"banking", "healthcare", "insurance", "legal", "code"} <= domains
    for record in records:
        assert ("prompt" in record) != ("messages" in record)
        if "messages" in record:
            assert record["messages"][-1]["role"] == "user"
        models = [r["model"] for r in record["responses"]]
        assert 2 <= len(models) <= 3 and len(set(models)) == len(models)
