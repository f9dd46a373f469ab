"""``python -m ranker`` runs the command-line interface."""

from __future__ import annotations

import sys

from ranker.cli import main

sys.exit(main())
