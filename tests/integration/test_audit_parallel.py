"""The same map/reduce on worker processes (``--workers``) and on a real local Dask cluster
(``--dask``, workers reading the objects straight from S3 on a moto server): same verdicts,
same digest, same first break as one process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.ledger import Ledger
from tests.integration.audit_support import (
    export_to,
    grow,
    lines_of,
    make_ledger,
    moto_server,
    report_of,
    s3_settings,
    use_s3,
    write_lines,
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = make_ledger(str(tmp_path_factory.mktemp("par") / "books.db"))
    grow(ledger, 20)
    yield ledger
    ledger.close()


def same_verdict(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["status"] == b["status"]
    assert a["counts"] == b["counts"]
    assert a["digest"] == b["digest"]
    assert a["first_break"] == b["first_break"]
    assert [c["status"] for c in a["checks"]] == [c["status"] for c in b["checks"]]


def test_two_worker_processes_match_one(ledger: Ledger, tmp_path: Path) -> None:
    result = export_to(ledger, tmp_path / "x", "ion_text", 3)
    code1, one, _ = report_of(tmp_path / "x", "--trust-key", ledger.vkey)
    code2, two, _ = report_of(tmp_path / "x", "--trust-key", ledger.vkey, "--workers", "2")
    assert code1 == code2 == 0
    same_verdict(one, two)
    assert two["timing"]["mode"] == "2 processes"
    path = Path(result.location(result.keys[4]))  # blocks 12-14: swap two of them
    lines = lines_of(path)
    lines[0], lines[1] = lines[1], lines[0]
    write_lines(path, lines)
    code1, one, _ = report_of(tmp_path / "x", "--trust-key", ledger.vkey)
    code2, two, _ = report_of(tmp_path / "x", "--trust-key", ledger.vkey, "--workers", "2")
    assert code1 == code2 == 1
    same_verdict(one, two)
    assert two["first_break"]["blockAddress"]["sequenceNo"] == 12


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from moto_server(tmp_path_factory.mktemp("moto"))


def test_dask_cluster_reads_s3_on_the_workers(
    ledger: Ledger, tmp_path: Path, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed = pytest.importorskip("distributed")
    s3 = use_s3(monkeypatch, moto, tmp_path)
    s3.create_bucket(Bucket="dask-journal")
    export_to(ledger, "s3://dask-journal/exports/", "ion_binary", 4)  # type: ignore[arg-type]
    code, serial, _ = report_of("s3://dask-journal/exports", "--trust-key", ledger.vkey)
    assert code == 0
    # worker processes inherit the S3 settings from this environment
    assert os.environ["AWS_ENDPOINT_URL"] == s3_settings(moto, tmp_path)["AWS_ENDPOINT_URL"]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=50,
    ) as cluster:  # fmt: skip
        code, on_dask, stderr = report_of(
            "s3://dask-journal/exports", "--trust-key", ledger.vkey, "--dask",
            cluster.scheduler_address,
        )  # fmt: skip
        assert code == 0, stderr
        same_verdict(serial, on_dask)
        assert on_dask["timing"]["mode"].startswith("dask")
