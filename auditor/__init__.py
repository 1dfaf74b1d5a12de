"""qldb-auditor's I/O side: parsers for QLDB formats, verification orchestration, reports, CLI."""

__version__ = "0.1.0"
