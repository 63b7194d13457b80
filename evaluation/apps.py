from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    verbose_name = "Evaluation"

    def ready(self) -> None:
        # Annotation asks before an undo; the dependency runs from evaluation to annotation.
        from annotation.services.judgments import judgment_undo_check_register
        from evaluation.exports.selectors import judgment_check_not_exported

        judgment_undo_check_register(judgment_check_not_exported)
