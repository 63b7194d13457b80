"""Writes of the judge, by what they act on: ``prompts`` (judge prompt versions published),
``runs`` (judge runs started) and ``worker`` (what a worker does with one judge item, and
the verdict written when a task's last item is done). Cancel and resume are the generation
run services'."""
