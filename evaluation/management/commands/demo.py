"""``manage.py demo``: a ready-to-try ftapp on whatever database is configured.

Migrates, creates an admin, a lead and two annotators, seeds a rating and a pairwise project
from ``annotation/fixtures/demo_prompts.jsonl``, assigns their tasks, adds a third project
already judged by simulated experts, registers the local model when
``manage.py serve_local_model`` answers, and serves the app.
Running it again reuses what is there and prints the same passwords.
"""

import io
import json
import math
import random
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import annotation
from annotation.models import Project, ProjectKind, Role, Task
from annotation.services import (
    batch_create,
    claim_next,
    judgment_submit,
    membership_set,
    project_create,
    prompt_records_load,
)
from evaluation.generation import local_model
from evaluation.generation.services.endpoints import model_endpoint_register_local
from ftapp.actors import SYSTEM

FIXTURE = Path(annotation.__file__).resolve().parent / "fixtures" / "demo_prompts.jsonl"
USERS = [
    ("admin", "admin"),
    ("lead", "lead"),
    ("annotator1", "annotator"),
    ("annotator2", "annotator"),
]
GUIDELINES = """\
# How to judge

You are reviewing answers that an assistant gave to customers, patients and developers.
Judge each answer as the **expert in the field** would, for the person who asked.

1. **Correct first.** A wrong fact, an invented policy or unsafe advice makes an answer poor,
   however well written.
2. **Helpful next.** Does it answer *this* question, with the steps the person needs?
3. **Then clear and safe.** Plain language, the right caveats (see a doctor, check your policy,
   this is not legal advice), no padding.

Rewrite an answer when you can fix it in a minute or two: your rewrite becomes training data.
Skip a task when you lack the expertise to judge it, and say why.
"""
ANCHORS = {
    "1": "Wrong, unsafe or useless",
    "2": "Major problems: misleading or misses the point",
    "3": "Acceptable but with gaps or errors a customer would notice",
    "4": "Good: correct and helpful, minor polish needed",
    "5": "Excellent: what a senior expert would send",
}
PROJECTS = [
    ("Support answers — rating", ProjectKind.RATING, "Rate each answer 1–5."),
    ("Support answers — which is better", ProjectKind.PAIRWISE, "Pick the better of two."),
]
JUDGED = "Support answers — already judged"
# The judged project's simulated experts: how strongly each model's answers win (a
# Bradley-Terry strength) and how often each expert just guesses.
STRENGTHS = {"base-v1": 0.0, "ft-r1": 0.9, "ft-r2": 1.7}
EXPERTS = {"expert1": 0.05, "expert2": 0.15, "expert3": 0.6}


class Command(BaseCommand):
    help = "Sets up a demo (users, three seeded projects) and serves it on 127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-serve", action="store_true", help="Set up the demo data and exit."
        )

    def handle(self, *args, addrport: str, no_serve: bool, **options):
        # Written to a file, a pipe or a service log, stdout is block-buffered: each line (the
        # passwords, then the server's own log lines) is written out as it is printed, with
        # or without PYTHONUNBUFFERED.
        out = getattr(self.stdout, "_out", None)
        if isinstance(out, io.TextIOWrapper):
            out.reconfigure(line_buffering=True)
        call_command("migrate", interactive=False, verbosity=0)
        passwords = self._users()
        created = self._projects()
        created.append(self._judged_project())
        local = self._local_model()
        self.stdout.write(self.style.SUCCESS("ftapp demo is ready."))
        for project, is_new in created:
            state = "created" if is_new else "already there"
            self.stdout.write(f"  project {project.name!r} ({project.kind}): {state}")
        self.stdout.write(f"  {local}")
        self.stdout.write("\nLog in with:")
        for username, role in USERS:
            self.stdout.write(f"  {role:<10} {username:<11} password: {passwords[username]}")
        self.stdout.write(f"(passwords kept in {self._credentials_file()})\n")
        if not no_serve:
            host = addrport if "://" in addrport else f"http://{addrport}"
            self.stdout.write(f"Open {host}/ — press Ctrl-C to stop.\n")
            self.stdout.flush()  # whatever stdout is: the passwords before the server starts
            call_command("runserver", addrport, use_reloader=False)

    def _credentials_file(self) -> Path:
        return Path(settings.VAR_DIR) / "demo_credentials.json"

    def _users(self) -> dict[str, str]:
        path = self._credentials_file()
        passwords = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        add_project = Permission.objects.get(
            content_type__app_label="annotation", codename="add_project"
        )
        for username, role in USERS:
            password = passwords.setdefault(username, secrets.token_urlsafe(9))
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.email = f"{username}@example.com"
            user.is_staff = user.is_superuser = role == "admin"
            user.save()
            if role == "lead":
                user.user_permissions.add(add_project)
        path.write_text(json.dumps(passwords, indent=2))
        path.chmod(0o600)
        return passwords

    def _local_model(self) -> str:
        """Registers the local model (``manage.py serve_local_model``) when it answers; the
        demo works without it, so the probe gives up after a second."""
        url = settings.LOCAL_MODEL_URL
        if not url:
            return "local model: not looked for (FTAPP_LOCAL_MODEL_URL is empty)"
        if local_model.MODEL_ID not in (local_model.served_models(url, timeout=1.0) or []):
            return (
                f"local model: not served at {url}; start `manage.py serve_local_model` "
                "and run the demo again to generate candidates with it"
            )
        admin = get_user_model().objects.get(username="admin")
        endpoint, is_new = model_endpoint_register_local(by=admin, base_url=url)
        state = "registered" if is_new else "already there"
        return f"model {endpoint.name!r} at {url}: {state} ({local_model.LABEL})"

    @transaction.atomic
    def _projects(self) -> list[tuple[Project, bool]]:
        User = get_user_model()
        annotators = [User.objects.get(username=u) for u, role in USERS if role == "annotator"]
        results = []
        for name, kind, description in PROJECTS:
            project = Project.objects.filter(name=name).first()
            if project is not None:
                results.append((project, False))
                continue
            project = self._seeded_project(
                name=name, kind=kind, description=description, overlap=2, annotators=annotators
            )
            results.append((project, True))
        return results

    def _seeded_project(
        self, *, name: str, kind: str, description: str, overlap: int, annotators: list[User]
    ) -> Project:
        """A project led by ``lead`` with the demo guidelines and prompts, its tasks in one
        batch assigned to ``annotators``."""
        project = project_create(
            by=SYSTEM,
            lead=get_user_model().objects.get(username="lead"),
            name=name,
            kind=kind,
            description=description,
            guidelines=GUIDELINES,
            # What each rating means: a pairwise project has no rating scale.
            rating_anchors=ANCHORS if kind == ProjectKind.RATING else None,
            overlap=overlap,
        )
        for annotator in annotators:
            membership_set(
                by=SYSTEM, project=project, username=annotator.username, role=Role.ANNOTATOR
            )
        records = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
        prompt_records_load(by=SYSTEM, project=project, records=records)
        batch_create(
            by=SYSTEM,
            project=project,
            name="Round 1",
            tasks=Task.objects.filter(project=project),
            annotators=annotators,
        )
        return project

    @transaction.atomic
    def _judged_project(self) -> tuple[Project, bool]:
        """A pairwise project that three simulated experts (who cannot log in) have judged
        through the real queue, so the leaderboard, agreement, exports and rounds have
        something to show at once. The third expert often guesses: agreement and
        Dawid–Skene reliability single them out."""
        project = Project.objects.filter(name=JUDGED).first()
        if project is not None:
            return project, False
        experts = []
        for username in EXPERTS:
            expert, created = get_user_model().objects.get_or_create(username=username)
            if created:
                expert.set_unusable_password()
                expert.save()
            experts.append(expert)
        project = self._seeded_project(
            name=JUDGED,
            kind=ProjectKind.PAIRWISE,
            description="Judged by simulated experts: see the leaderboard and agreement.",
            overlap=3,
            annotators=experts,
        )
        rng = random.Random(7)  # noqa: S311 (a simulation, not a secret)
        for expert in experts:
            guess = EXPERTS[expert.username]
            while (claim := claim_next(user=expert, project_id=project.pk)) is not None:
                task = claim.task
                left, right = (
                    (task.response_b, task.response_a)
                    if claim.swapped
                    else (task.response_a, task.response_b)
                )
                if left is None or right is None:
                    raise CommandError("The judged demo project is pairwise: two responses each.")
                gap = STRENGTHS[left.model_name] - STRENGTHS[right.model_name]
                if rng.random() < guess:
                    choice = rng.choice(["A", "B"])
                elif rng.random() < 0.08:
                    choice = "tie"
                else:
                    choice = "A" if rng.random() < 1 / (1 + math.exp(-gap)) else "B"
                judgment_submit(
                    user=expert,
                    task_id=task.pk,
                    choice=choice,
                    duration_ms=rng.randint(20_000, 90_000),
                )
        return project, True
