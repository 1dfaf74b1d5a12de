"""Optional features and the pip extra that installs each (pyproject.toml).

``pip install qldb-auditor`` is the offline verifier (amazon.ion, click, cryptography). The
rest is opt-in: ``[s3]`` (boto3: ``s3://`` sources and destinations), ``[server]`` (starlette,
uvicorn, jsonschema: ``qldb-audit serve``), ``[dask]`` (``verify export --dask``), ``[all]``.
Modules that need an extra import it lazily, where it is used, and call :func:`require` first
so that a missing extra is one clear line (CLI exit 2), never an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

# top-level module -> the extra that installs it
EXTRAS: dict[str, str] = {
    "boto3": "s3",
    "botocore": "s3",
    "s3transfer": "s3",
    "starlette": "server",
    "uvicorn": "server",
    "httptools": "server",
    "uvloop": "server",
    "jsonschema": "server",
    "anyio": "server",
    "dask": "dask",
    "distributed": "dask",
}
# what each extra must bring (checked by require)
MODULES: dict[str, tuple[str, ...]] = {
    "s3": ("boto3", "botocore"),
    "server": ("starlette", "uvicorn", "jsonschema"),
    "dask": ("dask", "distributed"),
}


class MissingExtraError(Exception):
    """A feature needs an optional extra that is not installed (CLI: one line, exit 2)."""

    exit_code = 2

    def __init__(self, extra: str, feature: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the [{extra}] extra (module {module} is not installed): "
            f"pip install 'qldb-auditor[{extra}]'"
        )
        self.extra = extra
        self.feature = feature
        self.module = module


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` can be imported."""
    for module in MODULES[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtraError(extra, feature, module)


def from_import_error(error: ImportError, feature: str) -> MissingExtraError | None:
    """The extra an ImportError asks for, or None when the module is not an optional one."""
    module = (error.name or "").partition(".")[0]
    extra = EXTRAS.get(module)
    return None if extra is None else MissingExtraError(extra, feature, module)
