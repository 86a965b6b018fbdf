"""``python -m localcloud COMMAND``: see ``localcloud.cli``."""

import sys

from localcloud.cli import main

sys.exit(main())
