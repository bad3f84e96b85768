from dse_tui.cli import main

raise SystemExit(main())
