"""`python -m models provision | path --model NAME`: see models/__init__.py."""

import sys

from models import main

sys.exit(main())
