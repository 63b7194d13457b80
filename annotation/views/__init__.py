"""Pages: the annotator's workspace (``annotator``) and the lead's project pages (``lead``)."""
