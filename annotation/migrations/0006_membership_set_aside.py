from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0005_judgment_change_seq"),
    ]

    operations = [
        migrations.RenameField(
            model_name="membership",
            old_name="excluded_from_exports",
            new_name="set_aside",
        ),
        migrations.AlterField(
            model_name="membership",
            name="set_aside",
            field=models.BooleanField(
                default=False,
                help_text="A lead set this annotator's judgments aside: they count in no export, "
                "figure or round.",
            ),
        ),
    ]
