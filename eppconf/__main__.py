"""``python -m eppconf`` runs the ``eppconf`` command."""

from eppconf.cli import main

raise SystemExit(main())
