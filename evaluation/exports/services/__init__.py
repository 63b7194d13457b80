"""Writes of exports, by what they do: ``jobs`` starts, cancels, retries and recovers them,
``build`` builds one, ``files`` places and writes its files."""
