"""``python -m fincredit.models.synthetic OUT_DIR --catalog FILE --enterprises N --seed S``: write a city."""

from fincredit.models.synthetic._files import main

raise SystemExit(main())
