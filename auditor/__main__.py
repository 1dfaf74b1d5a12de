"""``python -m auditor`` is ``qldb-audit``."""

from auditor.cli import main

main()
