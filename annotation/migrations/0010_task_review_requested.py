from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0009_batch_closed_reason"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="review_requested_at",
            field=models.DateTimeField(
                blank=True,
                help_text="A lead sent the task for review: it is listed among the conflicts "
                "until a lead adjudicates it, even when its judgments agree.",
                null=True,
            ),
        ),
    ]
