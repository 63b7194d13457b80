"""Writes of generation, by what they act on: ``endpoints`` (models registered and tested),
``runs`` (started, finished, cancelled, resumed) and ``worker`` (what a worker does with one
item)."""
