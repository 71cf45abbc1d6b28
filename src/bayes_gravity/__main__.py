from bayes_gravity.cli import main

raise SystemExit(main())
