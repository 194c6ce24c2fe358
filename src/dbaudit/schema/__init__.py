"""The schema model and its loaders (live catalog, SQLAlchemy, Django, SQL DDL)."""
