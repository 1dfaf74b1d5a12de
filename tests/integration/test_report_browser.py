"""The HTML report of ``verify export --html`` in a real headless browser.

Debian's Chromium and ChromeDriver (``apt-get install chromium chromium-driver``; ``.ci/run``
installs them), driven by Selenium. The page is loaded from the file the CLI wrote, and the test
reads what a person sees: the verdict banner, the counts, the first break (block, check, the
file that was tampered with) — all compared with the JSON report of the same run — and takes a
screenshot (kept with the test's files; ``QLDB_AUDIT_SCREENSHOTS=DIR`` copies it there).

Skips only when Chromium is absent *and* ``QLDB_AUDIT_REQUIRE_BROWSER`` is unset; CI sets it,
so there a missing browser is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.ledger import Ledger
from tests.integration.audit_support import (
    export_to,
    lines_of,
    make_ledger,
    report_of,
    write_lines,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
REQUIRED = bool(os.environ.get("QLDB_AUDIT_REQUIRE_BROWSER"))

if not (CHROMIUM and CHROMEDRIVER):
    if REQUIRED:
        pytest.fail(
            "QLDB_AUDIT_REQUIRE_BROWSER is set but chromium/chromedriver are not installed "
            "(apt-get install -y chromium chromium-driver)",
            pytrace=False,
        )
    pytest.skip(
        "needs Debian's chromium and chromium-driver (set QLDB_AUDIT_REQUIRE_BROWSER to insist)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

# The flags that work on this project's machines: no sandbox as root, and no background
# networking (the machine's network is closed; Chromium would retry connections forever).
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1800",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    ledger = make_ledger(str(tmp_path_factory.mktemp("browser") / "books.db"))
    yield ledger
    ledger.close()


def _rows(browser: Any, heading: str) -> dict[str, str]:
    """The th -> td rows of the table that follows the <h2> ``heading``."""
    table = browser.find_element(
        By.XPATH, f"//h2[normalize-space()='{heading}']/following-sibling::table[1]"
    )
    rows = {}
    for row in table.find_elements(By.TAG_NAME, "tr"):
        th, td = row.find_elements(By.TAG_NAME, "th"), row.find_elements(By.TAG_NAME, "td")
        if th and td:
            rows[th[0].text.strip()] = td[0].text.strip()
    return rows


def _screenshot(browser: Any, path: Path) -> None:
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000  # a rendered page, not an empty canvas
    keep = os.environ.get("QLDB_AUDIT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def _open(browser: Any, html: Path) -> None:
    browser.get(html.resolve().as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == "QLDB export audit"


def test_a_verified_export_reads_as_verified(
    browser: Any, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_to(ledger, tmp_path / "export", "ion_binary")
    monkeypatch.chdir(tmp_path)
    code, report, stderr = report_of("export", "--trust-key", ledger.vkey, "--html", "ok.html")
    assert code == 0, stderr
    _open(browser, tmp_path / "ok.html")
    banner = browser.find_element(By.CLASS_NAME, "banner")
    assert banner.text.startswith("VERIFIED (exit 0): OK: export: export ")
    assert "verified" in browser.title
    summary = _rows(browser, "Summary")
    c = report["counts"]
    assert summary["Blocks read / verified / failed / unchanged since last run"] == (
        f"{c['blocks']} / {c['blocks_verified']} / {c['blocks_failed']} / {c['blocks_skipped']}"
    )
    r = c["revisions"]
    assert summary["Revisions verified / hash-only / deleted / system / failed"] == (
        f"{r['verified']} / {r['hash_only']} / {r['deleted']} / {r['system']} / {r['failed']}"
    )
    assert summary["Digest at the last block"] == report["digest"]["digest"]
    assert not browser.find_elements(By.XPATH, "//h2[normalize-space()='First break']")
    _screenshot(browser, tmp_path / "report-verified.png")


def test_a_tampered_copy_reads_as_failed_naming_block_and_file(
    browser: Any, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = export_to(ledger, tmp_path / "original", "ion_text", per_object=3)
    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    key = result.keys[1]  # blocks 3-5
    path = tmp_path / "copy" / key
    lines = lines_of(path)
    assert b"amount:" in lines[1]
    lines[1] = lines[1].replace(b"amount:", b"amount:9", 1)  # block 4
    write_lines(path, lines)
    monkeypatch.chdir(tmp_path)
    code, report, stderr = report_of("copy", "--trust-key", ledger.vkey, "--html", "bad.html")
    assert code == 1, stderr
    brk = report["first_break"]
    assert brk["blockAddress"]["sequenceNo"] == 4

    _open(browser, tmp_path / "bad.html")
    banner = browser.find_element(By.CLASS_NAME, "banner")
    assert banner.text.startswith("REFUTED (exit 1): FAIL: copy: export ")
    assert "first break at block 4" in banner.text
    colour = banner.value_of_css_property("background-color")
    assert colour in ("rgba(207, 34, 46, 1)", "rgb(207, 34, 46)")  # the failure red
    first = _rows(browser, "First break")
    assert first["Block"] == f'{{strandId:"{ledger.strand_id}",sequenceNo:4}}'
    assert first["Check"] == brk["check"]
    assert first["Object"] == key  # the copy's file, relative to the export root
    assert "original" not in browser.page_source
    summary = _rows(browser, "Summary")
    c = report["counts"]
    assert summary["Blocks read / verified / failed / unchanged since last run"] == (
        f"{c['blocks']} / {c['blocks_verified']} / {c['blocks_failed']} / {c['blocks_skipped']}"
    )
    assert c["blocks_failed"] >= 1
    heading = browser.find_element(By.XPATH, "//h2[starts-with(normalize-space(), 'Failures')]")
    assert heading.text == f"Failures and errors ({report['issues_total']})"
    failures = "//h2[starts-with(normalize-space(), 'Failures')]/following-sibling::table[1]"
    failed_cells = browser.find_elements(By.XPATH, failures + "//td[1]")
    assert [cell.text for cell in failed_cells] == [i["kind"] for i in report["issues"]]
    objects = "//h2[starts-with(normalize-space(), 'Data objects')]/following-sibling::table[1]"
    statuses = {}
    for row in browser.find_elements(By.XPATH, objects + "//tr[td]"):
        cells = row.find_elements(By.TAG_NAME, "td")
        statuses[cells[0].text] = cells[-1].text
    assert statuses[key] == "failed"
    assert [k for k, s in statuses.items() if s == "failed"] == [key]
    _screenshot(browser, tmp_path / "report-failed.png")
