"""Measuring machinery shared by ``dbaudit demo`` and ``benchmarks/reference_ops.py``.

A delay proxy imitates a networked database, SQLAlchemy cursor events and the proxy count
statements and round trips, and the runner times naive and optimized variants side by side.
"""
