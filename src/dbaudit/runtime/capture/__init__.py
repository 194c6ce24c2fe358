"""Capture adapters: each hooks one database API and only emits ``QueryEvent``s.

Every adapter follows the same shape: one ``ContextVar`` read (``unit.active()``) decides whether
anything happens at all; when a unit is active the statement is timed and handed to
``unit.record``, which never raises. Adapters never change the statement, its parameters or its
result.
"""
