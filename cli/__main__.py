"""python -m cli: what ./greenrow runs."""
from cli.main import main

raise SystemExit(main())
