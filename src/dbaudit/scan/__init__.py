"""The static audit's plumbing: finding files, reading them safely, caching, suppressions, config.

``dbaudit.audit.run_static_audit`` puts these together; nothing here knows about rules.
"""
