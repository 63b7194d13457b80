"""The LLM judge: judge prompts (versioned per project), judge runs (generation runs whose
items ask a model to judge a task, in both orders for pairs) and the verdicts they write,
kept apart from human judgments."""
