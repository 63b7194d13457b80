"""Pages: the annotator's workspace (``annotator``), the lead's project pages (``lead``) and
each user's API tokens (``tokens``)."""
