"""Whole-export audits: ``qldb-audit verify export SOURCE`` (see auditor/cli_audit.py).

One engine, as everywhere in this project: the map step verifies one data object with
``proofs.verify_block`` (:mod:`auditor.audit.objects`), the reduce step links the objects and
grows the Merkle frontier (:mod:`auditor.audit.reduce`), :mod:`auditor.audit.engine` runs the map
in this process, a process pool or on Dask, and :mod:`auditor.audit.report` renders the result.
"""

from auditor.audit.engine import AuditOptions, AuditUsageError, Progress, audit
from auditor.audit.frontier import Frontier
from auditor.audit.objects import verify_object
from auditor.audit.report import AuditReport

__all__ = [
    "AuditOptions",
    "AuditReport",
    "AuditUsageError",
    "Frontier",
    "Progress",
    "audit",
    "verify_object",
]
