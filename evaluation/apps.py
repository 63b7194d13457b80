from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    verbose_name = "Evaluation"

    def ready(self) -> None:
        # Annotation asks before an undo; the dependency runs from evaluation to annotation.
        from annotation.services.judgments import judgment_undo_check_register
        from annotation.services.overlap import overlap_judge_trigger_register
        from evaluation.exports.selectors import judgment_check_not_exported
        from evaluation.judging.overlap import judge_disagrees_with_humans

        judgment_undo_check_register(judgment_check_not_exported)
        # Adaptive overlap asks the judge too, in batches that want it.
        overlap_judge_trigger_register(judge_disagrees_with_humans)
