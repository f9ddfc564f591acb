"""`python -m sizing` runs the CLI."""

import sys

from sizing.cli import main

sys.exit(main())
