from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        # Registers the token scheme with drf-spectacular.
        from annotation import authentication  # noqa: F401
