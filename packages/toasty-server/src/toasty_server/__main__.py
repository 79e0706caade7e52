from toasty_server.cli import main

raise SystemExit(main())
