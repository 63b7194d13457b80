"""How far to trust a judge: its verdicts against the human experts on the tasks both
labeled, per judge and judge prompt version (``figures`` computes, ``loading`` reads, ``page``
shapes the judge page's section)."""

from evaluation.judging.calibration.page import judge_calibration_page
from evaluation.judging.calibration.selectors import judge_calibration

__all__ = ["judge_calibration", "judge_calibration_page"]
