"""The static audit's plumbing: finding files, reading them safely, caching, suppressions, config.

``dbaudit.audit.run_static_audit`` puts these together; nothing here knows about rules.
"""

from dbaudit.findings import SkippedFile

# reasons for leaving a file out by design rather than because something is wrong with it
BY_DESIGN_REASONS: tuple[str, ...] = ("empty file", "too large", "same file as")


def skipped_by_design(skipped: SkippedFile) -> bool:
    """Empty, over the size limit or a symlinked duplicate: nothing for the user to fix."""
    return skipped.reason.startswith(BY_DESIGN_REASONS)
