from shelltune.cli import main

raise SystemExit(main())
