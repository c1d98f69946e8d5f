"""``python -m napari_autoencoders.cli``."""

import sys

from . import main

sys.exit(main())
