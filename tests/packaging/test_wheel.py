"""The wheel as a dealer installs it: ``pip install qldb-auditor``, no extras, no repository.

Run by ``make wheel-check`` (part of ``make test``), which builds the wheel and the sdist into
``dist/``, installs the wheel alone into a fresh virtual environment and points
``QLDB_AUDIT_WHEEL_VENV`` at it (``QLDB_AUDIT_DIST`` at ``dist/``). Every command runs that
environment's ``qldb-audit`` in a scratch directory holding only the files the user has, so
nothing is imported from the source tree.

What must hold: the metadata (one version, the SPDX licence, the base dependencies only, the
extras); no optional package in the environment; the dealer's path (``verify bundle`` with the
maker's public key: 0; a tampered copy: 1; no key: 3); every offline command on the real QLDB
artefacts and ``verify export`` of a directory, with the exit codes their manifests give; and
one clear line naming the extra (exit 2, no traceback) for each command that needs one.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import auditor
from auditor.ledger.keys import SignerKey
from tests.conftest import ARTEFACTS, FIXTURES, ROOT

VENV = os.environ.get("QLDB_AUDIT_WHEEL_VENV")
DIST = Path(os.environ.get("QLDB_AUDIT_DIST", ROOT / "dist"))
DEALER = FIXTURES / "ledger" / "dealer"
EXPORTS = FIXTURES / "qldb" / "exports"
BASE = {"amazon-ion", "click", "cryptography"}
OPTIONAL = ["boto3", "botocore", "starlette", "uvicorn", "httptools", "uvloop", "jsonschema",
            "dask", "distributed", "moto", "pytest"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not VENV, reason="needs a virtual environment with the wheel alone: run `make wheel-check`"
)


def _bin(name: str) -> str:
    assert VENV is not None
    return str(Path(VENV).resolve() / "bin" / name)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QLDB_AUDIT_", "PYTHON"))}
    env["PATH"] = f"{Path(_bin('python')).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def qldb_audit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [_bin("qldb-audit"), *args], cwd=cwd, env=_env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def venv_python(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [_bin("python"), "-c", code], cwd=cwd, env=_env(), capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _one(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    assert len(found) == 1, f"{DIST}: expected one {pattern}, found {found}"
    return found[0]


def _metadata() -> Any:
    with zipfile.ZipFile(_one("qldb_auditor-*.whl")) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(wheel.read(name).decode())


# -- the artefacts ----------------------------------------------------------------------------
def test_wheel_metadata() -> None:
    meta = _metadata()
    assert meta["Name"] == "qldb-auditor"
    assert meta["Version"] == auditor.__version__  # one source: auditor/__init__.py
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert not [c for c in meta.get_all("Classifier") if c.startswith("License ::")]
    assert "Programming Language :: Python :: 3.11" in meta.get_all("Classifier")
    base = {
        r.split(";")[0].split(">")[0].split("=")[0].strip().lower().replace(".", "-")
        for r in meta.get_all("Requires-Dist")
        if "extra ==" not in r
    }
    assert base == BASE
    assert set(meta.get_all("Provides-Extra")) >= {"s3", "server", "dask", "all", "dev"}


def test_wheel_and_sdist_carry_the_licence() -> None:
    licence = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in licence
    assert b"Version 2.0, January 2004" in licence
    assert b"END OF TERMS AND CONDITIONS" in licence
    with zipfile.ZipFile(_one("qldb_auditor-*.whl")) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert wheel.read(name) == licence
        assert any(n == "proofs/py.typed" for n in wheel.namelist())
    with tarfile.open(_one("qldb_auditor-*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
        assert {"LICENSE", "README.md", "pyproject.toml", "auditor/cli.py"} <= names
        member = sdist.extractfile(f"qldb_auditor-{auditor.__version__}/LICENSE")
        assert member is not None
        assert member.read() == licence


# -- the environment --------------------------------------------------------------------------
def test_no_optional_package_is_installed(tmp_path: Path) -> None:
    code = (
        "import importlib.util, json; "
        f"print(json.dumps([m for m in {OPTIONAL!r} if importlib.util.find_spec(m)]))"
    )
    assert json.loads(venv_python(code, tmp_path)) == []
    where = venv_python("import auditor, proofs; print(auditor.__file__, proofs.__file__)",
                        tmp_path)  # fmt: skip
    site = Path(VENV or "").resolve() / "lib"
    for path in where.split():  # the installed wheel, not the source tree
        assert Path(path).resolve().is_relative_to(site), path


def test_one_version(tmp_path: Path) -> None:
    done = qldb_audit("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"qldb-audit, version {auditor.__version__}"
    code = "import importlib.metadata as m, auditor; print(m.version('qldb-auditor'))"
    code += "; print(auditor.__version__)"
    assert venv_python(code, tmp_path).split() == [auditor.__version__] * 2


# -- the dealer's path ------------------------------------------------------------------------
@pytest.fixture
def dealer(tmp_path: Path) -> Path:
    """A directory with what a dealer has: the receipt bundle and the maker's public key."""
    for name in ("receipt-TEST10011.json", "carmaker.vkey", "consistency-20-52.json"):
        shutil.copy(DEALER / name, tmp_path / name)
    return tmp_path


def test_dealer_verifies_the_bundle_with_the_makers_key(dealer: Path) -> None:
    done = qldb_audit("verify", "bundle", "receipt-TEST10011.json", "--trust-key",
                      "carmaker.vkey", cwd=dealer)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "receipt-TEST10011.json" in done.stdout + done.stderr


def test_dealer_without_a_trusted_key_is_not_told_ok(dealer: Path) -> None:
    done = qldb_audit("verify", "bundle", "receipt-TEST10011.json", cwd=dealer)
    assert done.returncode == 3, done.stderr


def test_dealer_rejects_a_tampered_bundle(dealer: Path) -> None:
    bundle = json.loads((dealer / "receipt-TEST10011.json").read_text())
    text = bundle["revision"]["IonText"]
    assert "unitPrice:89000.00" in text
    bundle["revision"]["IonText"] = text.replace("unitPrice:89000.00", "unitPrice:8900.00")
    (dealer / "tampered.json").write_text(json.dumps(bundle, indent=2))
    done = qldb_audit("verify", "bundle", "tampered.json", "--trust-key", "carmaker.vkey",
                      cwd=dealer)  # fmt: skip
    assert done.returncode == 1, done.stderr


def test_dealer_is_not_told_ok_with_another_key_of_the_same_name(dealer: Path) -> None:
    other = SignerKey.generate("carmaker").verifier
    (dealer / "other.vkey").write_text(f"{other}\n")
    done = qldb_audit("verify", "bundle", "receipt-TEST10011.json", "--trust-key", "other.vkey",
                      cwd=dealer)  # fmt: skip
    assert done.returncode in (1, 3), done.stderr  # the trusted key did not sign: never 0


def test_consistency_proof(dealer: Path) -> None:
    done = qldb_audit("verify", "consistency", "consistency-20-52.json", "--trust-key",
                      "carmaker.vkey", cwd=dealer)  # fmt: skip
    assert done.returncode == 0, done.stderr


# -- every offline command --------------------------------------------------------------------
def test_real_qldb_artefacts(tmp_path: Path) -> None:
    """revision, block and receipt on every real QLDB artefact, as its manifest expects."""
    work = tmp_path / "artefacts"
    shutil.copytree(ARTEFACTS, work)
    manifest = json.loads((work / "manifest.json").read_text())
    ran = set()
    for entry in manifest:
        if not entry["command"]:
            continue
        command, *options = entry["command"]
        done = qldb_audit("verify", command, *options, entry["file"], cwd=work)
        assert done.returncode == entry["exit_code"], (entry, done.stderr)
        ran.add(command)
    assert ran == {"revision", "block", "receipt"}


def test_verify_export_of_a_directory(tmp_path: Path) -> None:
    work = tmp_path / "exports"
    shutil.copytree(EXPORTS, work)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest
    for entry in manifest:
        args = [entry["export"]] + [
            f"{entry['export']}/{a}" if a.endswith(".json") else a for a in entry["args"]
        ]
        done = qldb_audit("verify", "export", *args, cwd=work)
        assert done.returncode == entry["exit_code"], (entry, done.stderr)


def test_a_local_ledger_works_without_extras(tmp_path: Path) -> None:
    assert qldb_audit("ledger", "init", "--ledger", "m.db", "--name", "m", "--table", "t",
                      cwd=tmp_path).returncode == 0  # fmt: skip
    assert qldb_audit("ledger", "put", "--ledger", "m.db", "--table", "t", "k", '{"a": 1.50}',
                      cwd=tmp_path).returncode == 0  # fmt: skip
    assert qldb_audit("ledger", "export", "--ledger", "m.db", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "m.vkey").write_text(qldb_audit("ledger", "vkey", "--ledger", "m.db",
                                                cwd=tmp_path).stdout)  # fmt: skip
    done = qldb_audit("verify", "export", "out", "--trust-key", "m.vkey", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


# -- commands that need an extra --------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["serve", "--ledger", "m.db"], "server"),
        (["serve", "new-key", "--party", "p", "--role", "auditor"], "server"),
        (["verify", "export", "s3://bucket/prefix"], "s3"),
        (["ledger", "export", "--ledger", "m.db", "s3://bucket/prefix"], "s3"),
        (["verify", "export", "out", "--dask", "tcp://127.0.0.1:1"], "dask"),
    ],
    ids=["serve", "serve-new-key", "verify-export-s3", "ledger-export-s3", "verify-export-dask"],
)
def test_a_missing_extra_is_one_clear_line(args: list[str], extra: str, tmp_path: Path) -> None:
    assert qldb_audit("ledger", "init", "--ledger", "m.db", "--name", "m", "--table", "t",
                      cwd=tmp_path).returncode == 0  # fmt: skip
    assert qldb_audit("ledger", "export", "--ledger", "m.db", "out", cwd=tmp_path).returncode == 0
    done = qldb_audit(*args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ERROR: ")
    assert f"qldb-auditor[{extra}]" in lines[0]
