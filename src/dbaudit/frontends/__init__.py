"""Language frontends: source text -> the program model (``dbaudit.model``)."""
