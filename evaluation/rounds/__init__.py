"""Rounds: a fine-tuned model, the export it was trained on, and its comparison with the
model before it on that export's held-out test prompts."""
