"""Generation: model endpoints, the client that calls them and its limiter, the local model,
and generation runs (their writes, reads, pages, API, and recovery from lost workers)."""
