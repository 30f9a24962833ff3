import sys

from components.tools.cli import main

sys.exit(main())
