"""``python -m graphc``: the ``graphc`` command (see ``graphc.cli``)."""
import sys

from graphc.cli import main

sys.exit(main())
