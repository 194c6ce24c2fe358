"""Passes over SQL text: normalisation and fingerprinting, shared by every stage."""

from dbaudit.sql.fingerprint import Fingerprint, StatementKind, fingerprint, normalize

__all__ = ["Fingerprint", "StatementKind", "fingerprint", "normalize"]
