from dse_tui.launcher import main

raise SystemExit(main())
