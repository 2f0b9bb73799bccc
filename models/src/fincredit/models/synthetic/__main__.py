"""``python -m fincredit.models.synthetic OUT_DIR --enterprises N --seed S``: write a city."""

from fincredit.models.synthetic._files import main

raise SystemExit(main())
