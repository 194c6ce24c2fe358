from dbaudit.cli import main

raise SystemExit(main())
