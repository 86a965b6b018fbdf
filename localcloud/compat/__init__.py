"""The one door to what the local cloud uses of other projects' internals: ``moto`` (``compat.moto``) and Pulumi
(``compat.pulumi``).

Nothing else in ``localcloud`` imports a private or deep module of moto or of the Pulumi SDK; it imports the names
from here. So what the local cloud relies on is listed in one place, an upgrade starts here, and the version each was
written for is stated beside it. moto's is enforced: ``localcloud.patching`` refuses to patch a moto other than
``compat.moto.WRITTEN_FOR``.
"""
