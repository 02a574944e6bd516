"""``python -m losslang``: the same as the ``losslang`` command."""

import sys

from losslang.cli import main

sys.exit(main())
