from charlm_tui.cli import main

raise SystemExit(main())
