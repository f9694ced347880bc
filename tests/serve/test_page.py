"""The web page at / in a real headless browser (Debian's chromium + chromium-driver, driven by selenium):
type sentences, see the similarity heatmap; search the index; compare poolings. A screenshot of each
result is saved under the test's tmp dir."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import twinbert

webdriver = pytest.importorskip("selenium.webdriver")


def chromium():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("the page test needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver")
    options = Options()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def wait_for(browser, css: str, count: int = 1, seconds: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, seconds).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= count
                                          or d.find_element(By.CSS_SELECTOR, ".error:not(:empty)"))
    return browser.find_elements(By.CSS_SELECTOR, css)


def test_the_page_shows_similarity_search_and_poolings(browser, server, minilm, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert "all-MiniLM-L6-v2" in browser.find_element(By.ID, "model").text
    sentences = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell."]
    box = browser.find_element(By.ID, "sentences")
    box.clear()
    box.send_keys("\n".join(sentences))
    browser.find_element(By.ID, "compare-button").click()
    cells = wait_for(browser, "#heatmap td.sim", 9)
    shown = np.array([float(c.text) for c in cells]).reshape(3, 3)
    vectors = minilm.encode(sentences)
    np.testing.assert_allclose(shown, twinbert.similarity(vectors, vectors), atol=0.006)
    browser.save_screenshot(str(tmp_path / "similarity.png"))

    query = browser.find_element(By.ID, "query")
    query.send_keys("Someone rides a horse.")
    browser.find_element(By.ID, "search-button").click()
    hits = wait_for(browser, "#hits li.hit", 5)
    assert hits[0].find_element(By.CLASS_NAME, "text").text == "A man is riding a horse."
    browser.save_screenshot(str(tmp_path / "search.png"))

    browser.find_element(By.ID, "pooling-button").click()
    rows = wait_for(browser, "#poolings td.pool", 8)
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#poolings tr:first-child th")][1:]
    assert headers == ["cls", "mean", "max", "pooler"] and len(rows) == 8
    mean = minilm.encode(["A yellow rubber duck floats in a bathtub.", "rubber duck", "table"])
    expected = twinbert.similarity(mean[:1], mean[1:])[0]
    shown_mean = [float(rows[k].text) for k in (1, 5)]  # row-major: 2 sentences x 4 poolings
    np.testing.assert_allclose(shown_mean, expected, atol=0.0006)
    browser.save_screenshot(str(tmp_path / "poolings.png"))
    assert (tmp_path / "similarity.png").stat().st_size > 1000
