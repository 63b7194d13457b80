import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0014_guidelines_change_note_and_acknowledgment"),
        ("evaluation", "0008_run_completed_with_failures"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="JudgePrompt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveIntegerField()),
                ("system", models.TextField(blank=True)),
                ("template", models.TextField()),
                ("change_note", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="judge_prompts",
                        to="annotation.project",
                    ),
                ),
            ],
            options={
                "ordering": ["project", "-version"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("project", "version"), name="judge_prompt_unique_version"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("version__gte", 1)), name="judge_prompt_version_min"
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="generationrun",
            name="purpose",
            field=models.CharField(
                choices=[("generate", "Generate responses"), ("judge", "Judge tasks")],
                default="generate",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="generationrun",
            name="judge_prompt",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="runs",
                to="evaluation.judgeprompt",
            ),
        ),
        migrations.AddConstraint(
            model_name="generationrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("judge_prompt__isnull", True), ("purpose", "generate")),
                    models.Q(("judge_prompt__isnull", False), ("purpose", "judge")),
                    _connector="OR",
                ),
                name="generation_run_judge_prompt_for_judges",
            ),
        ),
        migrations.AddField(
            model_name="generationitem",
            name="task",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="annotation.task",
            ),
        ),
        migrations.AddField(
            model_name="generationitem",
            name="output",
            field=models.JSONField(
                blank=True,
                help_text="A judge item's parsed answer, in its order's terms.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="generationitem",
            name="raw_output",
            field=models.TextField(
                blank=True, help_text="A judge item's answer as the model wrote it, parsed or not."
            ),
        ),
        migrations.RemoveConstraint(
            model_name="generationitem",
            name="generation_item_unique",
        ),
        migrations.AddConstraint(
            model_name="generationitem",
            constraint=models.UniqueConstraint(
                condition=models.Q(("task__isnull", True)),
                fields=("run", "prompt", "endpoint", "sample"),
                name="generation_item_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="generationitem",
            constraint=models.UniqueConstraint(
                condition=models.Q(("task__isnull", False)),
                fields=("run", "task", "sample"),
                name="judge_item_unique",
            ),
        ),
        migrations.AddIndex(
            model_name="generationitem",
            index=models.Index(
                condition=models.Q(("task__isnull", False)),
                fields=["run", "task"],
                name="judge_item_task",
            ),
        ),
        migrations.CreateModel(
            name="JudgeVerdict",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("rating", "Rating (1–5)"), ("pairwise", "Pairwise (A/B)")],
                        max_length=16,
                    ),
                ),
                ("rating", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("rubric_scores", models.JSONField(blank=True, default=dict)),
                ("choice", models.CharField(blank=True, max_length=16)),
                ("order_choices", models.JSONField(blank=True, default=list)),
                ("consistent", models.BooleanField(blank=True, null=True)),
                ("rationale", models.TextField(blank=True)),
                ("tokens_in", models.PositiveIntegerField(blank=True, null=True)),
                ("tokens_out", models.PositiveIntegerField(blank=True, null=True)),
                ("latency_ms", models.PositiveIntegerField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("change_seq", models.BigIntegerField(default=0, editable=False)),
                (
                    "endpoint",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="verdicts",
                        to="evaluation.modelendpoint",
                    ),
                ),
                (
                    "judge_prompt",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="verdicts",
                        to="evaluation.judgeprompt",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="judge_verdicts",
                        to="annotation.project",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="verdicts",
                        to="evaluation.generationrun",
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="judge_verdicts",
                        to="annotation.task",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [
                    models.Index(
                        fields=["project", "change_seq", "id"], name="judge_verdict_change_order"
                    ),
                    models.Index(
                        fields=["project", "endpoint", "judge_prompt", "task"],
                        name="judge_verdict_judge",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("run", "task"), name="judge_verdict_unique_task"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("choice", ""),
                                ("kind", "rating"),
                                ("rating__gte", 1),
                                ("rating__lte", 5),
                                ("consistent__isnull", True),
                            ),
                            models.Q(
                                ("choice__in", ("A", "B", "tie", "both_bad")),
                                ("kind", "pairwise"),
                                ("rating__isnull", True),
                            ),
                            _connector="OR",
                        ),
                        name="judge_verdict_shape_matches_kind",
                    ),
                ],
            },
        ),
    ]
