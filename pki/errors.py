"""The one exception type the PKI toolkit raises for bad input or a broken PKI directory.

Every message names the problem and, where there is one, the fix (usually the command to run),
so the CLI can print it as its one-line reason and library callers can surface it unchanged.
"""

from __future__ import annotations


class PkiError(Exception):
    """A PKI operation could not be done; ``str(error)`` says why and what to do about it."""
