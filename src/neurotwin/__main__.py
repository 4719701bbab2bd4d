"""Allow ``python -m neurotwin``."""

from neurotwin.cli import main

raise SystemExit(main())
