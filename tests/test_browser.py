"""A real browser on the dashboard: headless Chromium (selenium + chromedriver) watches the demo and allocates.

Needs Debian's chromium and chromium-driver (`.ci/run` installs them); skipped without them.
The screenshot is saved as test-artifacts/dashboard.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.webdemo import running_demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Chromium and its driver: apt-get update && apt-get install -y chromium chromium-driver",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1700",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_dashboard_shows_balances_and_an_allocate_from_the_page_changes_the_slot_live(
    browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 60)
    with running_demo(tmp_path) as (_, dashboard):
        browser.get(dashboard.url)
        row = '#balances tr[data-ledger="kraken.trade.usd"]'
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{row} td[data-slot='0']"), "50,000.00"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "conn"), "live"))
        assert "strategy_a (2)" in browser.find_element(By.CSS_SELECTOR, "#balances thead").text

        Select(browser.find_element(By.ID, "f-ledger")).select_by_value("kraken|trade|usd")
        for field, value in (("f-index", "4"), ("f-amount", "1234.5")):
            element = browser.find_element(By.ID, field)
            element.clear()
            element.send_keys(value)
        browser.find_element(By.ID, "allocate").click()
        confirmation = wait.until(ec.alert_is_present())
        assert "allocate 1234.5 usd slot 4 on kraken.trade" in confirmation.text
        confirmation.accept()

        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{row} td[data-slot='4']"), "1,234.50"))
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{row} td[data-slot='1']"), "48,765.50"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "done: allocate"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "audit"), "allocate"))
        wait.until(lambda d: "no data yet" not in d.find_element(By.ID, "plot-hedge").text)
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
