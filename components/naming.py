"""Every physical name derives from the one `application` setting: :class:`Names` lives in ``contract/resources.py``
(``ops``, the local cloud and the tests derive the same names from there); the components import it from here."""

from __future__ import annotations

from contract.resources import Names

__all__ = ["Names"]
