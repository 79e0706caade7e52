"""`python -m toasty_server.companion`: the same as the `toasty-desktop` command."""

from toasty_server.companion.cli import main

raise SystemExit(main())
