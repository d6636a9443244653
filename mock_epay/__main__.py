"""`python -m mock_epay` runs the command-line interface."""

from mock_epay.cli import main

raise SystemExit(main())
