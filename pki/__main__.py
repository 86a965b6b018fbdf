"""Entry point of ``python -m pki``."""

import sys

from pki.cli import main

sys.exit(main())
