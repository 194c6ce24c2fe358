"""The static audit's plumbing: finding files, reading them safely, caching, suppressions, config.

``dbaudit.audit.run_static_audit`` puts these together; nothing here knows about rules.
"""

from dbaudit.findings import SkippedFile

# reasons for leaving a file out by design rather than because something is wrong with it
BY_DESIGN_REASONS: tuple[str, ...] = (
    "empty file",
    "too large",
    "same file as",
    # the TypeScript frontend's reasons (dbaudit.frontends.typescript.skip_reason)
    "TypeScript declaration file",
    "minified or bundled",
    "binary content",
    # audited as far as tree-sitter recovered: listed, but not a failure, because the grammar
    # lags the language (valid TypeScript such as ``interface I<out A>`` shows up as errors)
    "partly analyzed",
)


def skipped_by_design(skipped: SkippedFile) -> bool:
    """Empty, too large, a symlinked duplicate, a ``.d.ts`` or a bundle: nothing to fix."""
    return skipped.reason.startswith(BY_DESIGN_REASONS)
