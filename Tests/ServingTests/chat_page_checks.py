#!/usr/bin/env python3
"""The chat page at / driven in a real browser: headless Chromium (Debian's chromium and chromium-driver) through
Selenium. It types the API key, a system prompt and a question, sends, watches the answer stream in, reads the
tokens/s readout, keeps a screenshot of the answered page, then asks for a long answer and stops it mid-stream.
Each check prints one line; any failure exits non-zero."""
import argparse
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

failures = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        failures.append(name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1100,800", "--no-first-run", "--disable-background-networking"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(driver, 120, poll_frequency=0.1)
        driver.get(args.url + "/")
        check("the page loads", driver.title == "ModelHost chat", driver.title)
        key = driver.find_element(By.ID, "key")
        key.send_keys(args.api_key)
        driver.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
        wait.until(lambda d: len(Select(d.find_element(By.ID, "model")).options) > 0)
        models = [o.text for o in Select(driver.find_element(By.ID, "model")).options]
        check("the model list comes from /v1/models (chat models only)",
              any(m.startswith("SmolLM2") for m in models) and not any("MiniLM" in m for m in models), str(models))

        driver.find_element(By.CSS_SELECTOR, "#settings summary").click()
        driver.find_element(By.ID, "system").send_keys("You are a helpful geography teacher.")
        driver.find_element(By.ID, "input").send_keys("What is the capital of France?")
        driver.find_element(By.ID, "send").click()
        answer = (By.CSS_SELECTOR, ".msg.assistant")
        wait.until(lambda d: d.find_elements(*answer) and d.find_elements(*answer)[-1].get_attribute("data-state"))
        lengths = []
        while driver.find_elements(*answer)[-1].get_attribute("data-state") == "streaming":
            lengths.append(len(driver.find_elements(*answer)[-1].find_element(By.TAG_NAME, "span").text))
            time.sleep(0.02)
        final = driver.find_elements(*answer)[-1]
        text = final.find_element(By.TAG_NAME, "span").text
        meta = final.find_element(By.CLASS_NAME, "meta").text
        check("the answer arrives and finishes", final.get_attribute("data-state") == "done" and len(text) > 0,
              f"{final.get_attribute('data-state')}: {text!r}")
        check("it was seen streaming (growing text)", len(set(lengths)) >= 2, str(lengths[:20]))
        check("a tokens/s readout", "tok/s" in meta and "first token after" in meta, meta)
        user = driver.find_elements(By.CSS_SELECTOR, ".msg.user")[-1].text
        check("the question is shown", user == "What is the capital of France?", user)
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        driver.save_screenshot(args.screenshot)
        check("a screenshot of the answered page is kept", os.path.getsize(args.screenshot) > 10_000,
              args.screenshot)

        # Stop mid-answer: a long answer is cut when Stop is pressed, and the page takes the next message.
        driver.find_element(By.ID, "input").send_keys("Write a very long story about a lighthouse keeper and the sea.")
        driver.find_element(By.ID, "send").click()
        wait.until(lambda d: len(d.find_elements(*answer)) == 2
                   and len(d.find_elements(*answer)[-1].find_element(By.TAG_NAME, "span").text) > 40)
        driver.find_element(By.ID, "stop").click()
        wait.until(lambda d: d.find_elements(*answer)[-1].get_attribute("data-state") == "stopped")
        stopped = driver.find_elements(*answer)[-1].find_element(By.TAG_NAME, "span").text
        time.sleep(1.0)
        after = driver.find_elements(*answer)[-1].find_element(By.TAG_NAME, "span").text
        check("Stop ends the answer mid-stream", stopped == after and len(stopped) > 40,
              f"{len(stopped)} then {len(after)} characters")
        check("the page is ready again", driver.find_element(By.ID, "send").is_enabled()
              and not driver.find_element(By.ID, "stop").is_enabled())
        check("no errors shown", not driver.find_elements(By.CSS_SELECTOR, ".msg.error"))
    finally:
        driver.quit()
    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
