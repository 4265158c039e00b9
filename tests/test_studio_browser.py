"""``evoface studio`` driven in headless Chromium (Debian's chromium and chromium-driver) through selenium: the
person's clicks, three generations, undo, save, a reload and a server restart with --resume, and a stale tab."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.test_studio import fake_evolve_run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]
SHIPPED_GAN = ROOT / "neural" / "pretrained" / "gan64.pt"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("no Chromium: install Debian's chromium and chromium-driver (.ci/run does) to test the studio page",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


class StudioProcess:
    """``evoface studio`` in a child process; ``url`` is what it printed."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "studio", "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.url = self._read_url(timeout=300)  # seconds: on a CPU shared by many jobs, imports alone took 74 s

    def _read_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if ready:
                line = self.process.stdout.readline()
                match = re.search(r"http://127\.0\.0\.1:\d+/", line)
                if match:
                    return match.group(0)
            if self.process.poll() is not None:
                break
        self.process.kill()
        _, errors = self.process.communicate(timeout=30)
        pytest.fail(f"the studio printed no URL within {timeout:g} s: {errors}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            for stream in (self.process.stdout, self.process.stderr):
                stream.close()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1100", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_ready(driver, timeout: float = 60) -> str:
    """Wait until the page has drawn a grid and decoded its images; returns the grid's version."""
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.dataset.ready === document.body.dataset.version "
                                   "&& document.body.dataset.version !== undefined"))
    return driver.execute_script("return document.body.dataset.version")


def wait_version_change(driver, old: str) -> str:
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready") not in (None, old))
    return wait_ready(driver)


def shown(driver) -> dict:
    """What the person sees: generation, faces, which are chosen and closest, the history strip, the sliders."""
    return driver.execute_script("""
        const ids = (selector) => [...document.querySelectorAll(selector)].map((e) => Number(e.dataset.id));
        return {generation: document.getElementById('generation').textContent,
                faces: [...document.querySelectorAll('#grid img')].map((i) => i.src),
                chosen: ids('#grid .face.chosen'), closest: ids('#grid .face.closest'),
                history: [...document.querySelectorAll('#history img')].map((i) => i.src),
                strength: document.getElementById('strength').value};
    """)


def click_face(driver, face: int) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#grid .face[data-id="{face}"] img').click()


def settle(driver) -> None:
    """Wait until the page's queued requests (each click is sent to the server) have been answered."""
    driver.execute_async_script("const done = arguments[arguments.length - 1]; queue.then(() => done(true));")


def test_studio_in_a_real_browser(browser, tmp_path):
    run = tmp_path / "session"
    studio = StudioProcess("--out", str(run), "--genome", "pixel", "--seed", "3")
    try:
        browser.get(studio.url)
        version = wait_ready(browser)
        first = shown(browser)
        assert first["generation"] == "0" and len(first["faces"]) == 16 and first["history"] == []
        assert browser.find_element(By.ID, "next").get_attribute("disabled")  # nothing chosen yet
        size = browser.find_element(By.CSS_SELECTOR, "#grid .face img").size
        assert size["width"] >= 150, f"faces are shown at {size['width']} px: too small to judge"
        browser.save_screenshot(str(tmp_path / "generation0.png"))

        picks = [(0, 5), (2, 7), (1, 3)]
        step_ms = []
        for generation, (a, b) in enumerate(picks):
            click_face(browser, a)
            click_face(browser, b)
            browser.find_element(By.CSS_SELECTOR, f'#grid .face[data-id="{b}"] button.closest').click()
            settle(browser)
            assert shown(browser)["chosen"] == sorted([a, b]) and shown(browser)["closest"] == [b]
            browser.find_element(By.ID, "next").click()
            version = wait_version_change(browser, version)
            step_ms.append(float(browser.execute_script("return document.body.dataset.stepMs")))
            now = shown(browser)
            assert now["generation"] == str(generation + 1) and len(now["history"]) == generation + 1
            assert now["chosen"] == []
        browser.save_screenshot(str(tmp_path / "generation3.png"))
        print(f"Next generation to new grid in the browser (pixel genome): {step_ms} ms")

        browser.find_element(By.ID, "undo").click()
        version = wait_version_change(browser, version)
        back = shown(browser)
        assert back["generation"] == "2" and len(back["history"]) == 2
        assert back["chosen"] == [1, 3] and back["closest"] == [3]  # the choice made on generation 2 is back

        browser.find_element(By.CSS_SELECTOR, '#grid .face[data-id="4"] button.save').click()
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.body.dataset.saved"))
        saved = Path(browser.execute_script("return document.body.dataset.saved"))
        assert saved.parent == run / "samples" and Image.open(saved).size == (64, 64)
        assert "saved face #4" in browser.find_element(By.ID, "message").text

        browser.refresh()
        wait_ready(browser)
        assert shown(browser) == back
        browser.save_screenshot(str(tmp_path / "reloaded.png"))
    finally:
        assert studio.stop() == 0

    studio = StudioProcess("--resume", str(run))
    try:
        browser.get(studio.url)
        wait_ready(browser)
        assert shown(browser) == back
        browser.save_screenshot(str(tmp_path / "resumed.png"))

        # A second tab moves on; the first one, now stale, gets a clear message and changes nothing.
        first_tab = browser.current_window_handle
        browser.switch_to.new_window("tab")
        browser.get(studio.url)
        version = wait_ready(browser)
        browser.find_element(By.ID, "next").click()  # generation 2 still has its choice: Next is enabled
        wait_version_change(browser, version)
        browser.switch_to.window(first_tab)
        click_face(browser, 9)
        settle(browser)
        message = browser.find_element(By.ID, "message")
        assert "old grid" in message.text and "error" in message.get_attribute("class")
        browser.save_screenshot(str(tmp_path / "stale-tab.png"))

        # The runs page lists the folder's runs and follows a running evolve as it writes.
        evolve_run = fake_evolve_run(tmp_path, rows=300)
        browser.get(studio.url + "runs")
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#runs tr[data-name="ga"]'))
        browser.find_element(By.CSS_SELECTOR, '#runs tr[data-name="ga"]').click()
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.body.dataset.points") == "300")
        with (evolve_run / "metrics.jsonl").open("a") as handle:
            handle.write('301, "max": 0.31, "mean": 0.2}\n')
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.body.dataset.points") == "301")
        assert browser.execute_script("return document.getElementById('best').naturalWidth") == 8
        browser.save_screenshot(str(tmp_path / "runs.png"))
    finally:
        assert studio.stop() == 0
    metrics = (run / "metrics.jsonl").read_text().splitlines()
    assert [row.count('"action": "next"') for row in metrics] == [1, 1, 1, 0, 1]
    assert os.path.getsize(run / "checkpoints" / "last.pt") > 0
    assert Image.open(run / "plots" / "faceness.png").size[0] > 300  # written when the server stopped


@pytest.mark.skipif(not SHIPPED_GAN.is_file(),
                    reason=f"the shipped GAN decoder is not there ({SHIPPED_GAN}): the studio falls back to pixels")
def test_the_default_genome_is_the_latent_one_on_the_shipped_gan(browser, tmp_path):
    studio = StudioProcess("--out", str(tmp_path / "session"))
    try:
        browser.get(studio.url)
        version = wait_ready(browser)
        assert browser.execute_script("return state.genome") == "latent"
        assert len(set(shown(browser)["faces"])) == 16  # sixteen different decoded faces
        click_face(browser, 2)
        click_face(browser, 11)
        settle(browser)
        browser.find_element(By.ID, "next").click()
        wait_version_change(browser, version)
        now = shown(browser)
        assert now["generation"] == "1" and len(now["history"]) == 1
        print(f"Next generation to new grid in the browser (latent genome, shipped GAN): "
              f"{browser.execute_script('return document.body.dataset.stepMs')} ms")
        browser.save_screenshot(str(tmp_path / "latent-generation1.png"))
    finally:
        assert studio.stop() == 0
