"""``python -m n2n`` runs the command line."""

from n2n.cli import main

raise SystemExit(main())
