"""``python -m redactor``: see :mod:`redactor.cli`."""

from __future__ import annotations

import sys

from redactor.cli import main

if __name__ == "__main__":
    sys.exit(main())
