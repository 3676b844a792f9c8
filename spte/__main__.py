"""``python -m spte``: the same as the ``spte`` command."""

from spte.cli import main

raise SystemExit(main())
