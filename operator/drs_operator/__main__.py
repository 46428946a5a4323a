from drs_operator.cli import main

raise SystemExit(main())
