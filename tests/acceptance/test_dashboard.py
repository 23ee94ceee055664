"""GET /dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

A seed run (20,000 rows, 10,000 at once) progresses while the page is open: the page must load with no
console error, its charts must draw and move, the run's progress bar must reach 100 %, and the row
inspector must show a row's value counting down. The screenshot taken during the run is kept with the
test's files; GREENROW_DASHBOARD_SCREENSHOT=docs/dashboard.png writes it there (the README's picture).
"""
import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1700")
TOKEN = "dashboard-test-token-0123456789"


def require(program):
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is missing: apt-get install chromium chromium-driver (as root; .ci/run does it)",
                    pytrace=False)
    return path


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = require("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    driver = webdriver.Chrome(service=Service(require("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def severe(driver):
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def chart(driver, name):
    """(points drawn, the canvas as an image) of one chart."""
    return driver.execute_script(
        "const box = document.getElementById(arguments[0]);"
        "return [Number(box.dataset.points), box.querySelector('canvas').toDataURL()];", f"chart-{name}")


def progress(driver, run_id):
    return driver.execute_script(
        "const bar = document.querySelector(`tr[data-run-id='${arguments[0]}'] .progress`);"
        "return bar ? Number(bar.dataset.percent) : null;", run_id)


def watch_row(driver, row_id):
    field = driver.find_element(By.ID, "inspect-id")
    field.clear()
    field.send_keys(str(row_id))
    driver.find_element(By.CSS_SELECTOR, "#inspect-form button").click()


def counting_down(driver, readings=3, timeout=15):
    """The inspector's value read until it has been lower `readings` - 1 times in a row."""
    values = []

    def lower_again():
        shown = text(driver, "inspect-value").replace(",", "")
        if shown.isdigit() and (not values or int(shown) < values[-1]):
            values.append(int(shown))
        return len(values) >= readings
    wait_until(lower_again, timeout, interval=0.1, message=f"the inspector's value never counted down: {values}")
    return values


def test_the_dashboard_follows_a_seed_run_with_moving_charts_a_full_progress_bar_and_a_live_row(
        make_service, browser, tmp_path):
    service = make_service(workers=2)
    slow = start_run(service, rows=1, start_value=100_000, tick_ms=250)  # the row the inspector watches

    browser.get(service.url("/dashboard"))
    wait_until(lambda: browser.find_element(By.ID, "status").get_attribute("data-state") == "live", 15,
               message="the page never went live")
    run = start_run(service, rows=20_000, start_value=3, tick_ms=1000, max_concurrency=10_000)
    wait_until(lambda: (progress(browser, run["id"]) or 0) > 0, 20, message="the run's progress bar never moved")
    points, image = chart(browser, "servers")
    wait_until(lambda: chart(browser, "servers")[0] >= points + 2, 10, message="the charts got no new points")
    assert chart(browser, "servers")[1] != image, "the row servers chart did not change while the run ran"
    assert int(text(browser, "total-servers").replace(",", "")) > 0
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#nodes tbody tr") and
               len(browser.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")) == 2, 10, message="not 2 nodes")
    picture = tmp_path / "dashboard.png"
    watch_row(browser, slow["first_row_id"])
    values = counting_down(browser)
    assert values[0] > values[-1] >= 100_000 - 100
    assert text(browser, "inspect-status") == "running" and text(browser, "inspect-node")
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(picture))  # mid-run: progress, charts, nodes and the inspector all live
    target = os.environ.get("GREENROW_DASHBOARD_SCREENSHOT")
    if target:
        shutil.copyfile(picture, REPO / target)

    wait_for_run(service, run["id"], timeout=60)
    wait_until(lambda: progress(browser, run["id"]) == 100, 10, message="the progress bar never reached 100 %")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-run-id='{run['id']}']")
    assert row.get_attribute("data-status") == "done"
    assert severe(browser) == []


def test_the_dashboard_asks_for_the_token_when_the_api_wants_one_and_goes_live_with_it(make_service, browser):
    service = make_service(env={"GREENROW_API_TOKEN": TOKEN})
    service.http.headers["Authorization"] = f"Bearer {TOKEN}"
    run = start_run(service, rows=1, start_value=100_000, tick_ms=250)

    browser.get(service.url("/dashboard"))
    form = browser.find_element(By.ID, "token-form")
    wait_until(form.is_displayed, 15, message="the page never asked for a token")
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "token"
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(lambda: browser.find_element(By.ID, "status").get_attribute("data-state") == "live", 15,
               message="the page never went live with the token")
    watch_row(browser, run["first_row_id"])
    counting_down(browser)
    # the only errors: the API's 401s before the token was typed in
    assert all("401" in message for message in severe(browser)), severe(browser)
