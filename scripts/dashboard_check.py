"""The dashboard in a real browser: Debian's chromium, headless, driven through
chromium-driver by Selenium's WebDriver client. Starts the emulator, opens the dashboard,
and checks each step against what a DTE on the modem's PTY sees; a screenshot of each
step goes to the artifacts directory (argv[2]). Run by scripts/dashboard-check.sh.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import serial
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

BIN, OUT = Path(sys.argv[1]), Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)


class Dte:
    """The firmware's side: CR LF line endings, reads with a deadline."""

    def __init__(self, port: str) -> None:
        self.ser = serial.Serial(port, 115200, timeout=0.2)
        self.seen = b""

    def send(self, line: str) -> None:
        self.ser.write(line.encode() + b"\r\n")

    def expect(self, want: bytes, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while want not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"the DTE never saw {want!r}; it saw {self.seen!r}")
            self.seen += self.ser.read(4096)
        self.seen = self.seen.split(want, 1)[1]


def trace_text(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.ID, "trace").text)


def wait_trace(driver: webdriver.Chrome, want: str, within: float = 10.0) -> None:
    WebDriverWait(driver, within).until(lambda d: want in trace_text(d), f"{want!r} not in the trace")


def shot(driver: webdriver.Chrome, n: int, name: str) -> None:
    path = OUT / f"{n:02d}-{name}.png"
    driver.save_screenshot(str(path))
    print(f"dashboard-check: screenshot {path}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="sim5360-dash-"))
    proc = subprocess.Popen(
        [
            str(BIN),
            "--ready-json",
            "--control",
            "127.0.0.1:0",
            "--boot-delay",
            "0",
            "--no-nmea",
            "--efs",
            str(work / "efs"),
            "--state",
            str(work / "state"),
            "--link",
            str(work / "tty"),
        ],
        stdout=subprocess.PIPE,
        stderr=open(work / "stderr.log", "wb"),  # noqa: SIM115 (as long as the process)
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    url = ready["control"]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1440,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    try:
        dte = Dte(ready["link"])
        dte.send("AT+CREG=1")
        dte.expect(b"OK\r\n")
        # 1. The boot URCs (before the page opened) in the trace, from the stream's replay.
        driver.get(url + "/")
        wait_trace(driver, "PB DONE")
        wait_trace(driver, "AT+CREG=1")
        WebDriverWait(driver, 10).until(lambda d: "live" in d.find_element(By.ID, "link-status").text)
        shot(driver, 1, "boot-urcs")
        # 2. A command from the DTE appears, with its answer.
        dte.send("AT+CSQ")
        dte.expect(b"+CSQ: 21,99")
        wait_trace(driver, "AT+CSQ")
        wait_trace(driver, "+CSQ: 21,99")
        shot(driver, 2, "at-csq")
        # 3. "Coverage off": +CREG: 0 reaches the DTE; the state panel says so.
        driver.find_element(By.ID, "coverage-off").click()
        dte.expect(b"+CREG: 0\r\n")
        WebDriverWait(driver, 10).until(lambda d: "lost" in d.find_element(By.ID, "state").text)
        wait_trace(driver, "+CREG: 0<CR>")
        shot(driver, 3, "coverage-off")
        # Coverage back from the keyboard (focus and Enter, no mouse).
        button = driver.find_element(By.ID, "coverage-on")
        driver.execute_script("arguments[0].focus()", button)
        assert driver.switch_to.active_element == button
        button.send_keys(Keys.ENTER)
        dte.expect(b"+CREG: 1\r\n")
        # 4. An SMS from the form: +CMTI at the DTE, the message in the inbox table.
        text = driver.find_element(By.ID, "sms-text")
        text.clear()
        text.send_keys("from the browser")
        driver.find_element(By.ID, "sms-send").click()
        dte.expect(b'+CMTI: "SM",1\r\n')
        WebDriverWait(driver, 10).until(
            lambda d: "from the browser" in d.find_element(By.ID, "inbox").text, "not in the inbox"
        )
        shot(driver, 4, "sms-delivered")
        # 5. A data call: ATD*99# from the DTE; the state panel shows the call and the
        # trace the module's first LCP request decoded; DTR dropped (the line speed set to
        # 0, as pppd hangs up) ends it.
        dte.send("ATD*99#")
        dte.expect(b"CONNECT 115200\r\n")
        WebDriverWait(driver, 10).until(lambda d: "cid 1, establish" in d.find_element(By.ID, "state").text)
        wait_trace(driver, "PPP LCP ConfReq")
        shot(driver, 5, "data-call")
        attrs = termios.tcgetattr(dte.ser.fd)
        attrs[4] = attrs[5] = termios.B0
        termios.tcsetattr(dte.ser.fd, termios.TCSANOW, attrs)
        time.sleep(0.5)
        dte.ser.baudrate = 9600
        dte.ser.baudrate = 115200
        dte.expect(b"NO CARRIER\r\n")
        dte.expect(b"+PPPD: DISCONNECTED\r\n")
        WebDriverWait(driver, 10).until(lambda d: "cid 1, " not in d.find_element(By.ID, "state").text)
        # Pause holds the trace still; the filter narrows it.
        driver.find_element(By.ID, "pause").click()
        dte.send("AT+CGMM")
        dte.expect(b"SIMCOM_SIM5360E")
        time.sleep(0.5)
        assert "AT+CGMM" not in trace_text(driver), "the paused trace moved"
        driver.find_element(By.ID, "pause").click()
        wait_trace(driver, "AT+CGMM")
        driver.find_element(By.ID, "filter").send_keys("CMTI")
        WebDriverWait(driver, 5).until(lambda d: "AT+CSQ" not in trace_text(d))
        assert "+CMTI" in trace_text(driver)
        shot(driver, 6, "filtered")
        # The snapshot mode renders once and opens no stream; everything it shows is there
        # when the page has loaded (no waiting: a headless --dump-dom captures at load).
        driver.get(url + "/?snapshot=1")
        assert "snapshot" in driver.find_element(By.ID, "link-status").text
        assert "from the browser" in driver.find_element(By.ID, "inbox").text, "the inbox was not in the snapshot"
        assert "PB DONE" in trace_text(driver), "the trace was not in the snapshot"
        assert "MSISDN" in driver.find_element(By.ID, "state").text, "the state was not in the snapshot"
        shot(driver, 7, "snapshot")
        # So is the live page's first render, before its stream says anything.
        driver.get(url + "/")
        assert "from the browser" in driver.find_element(By.ID, "inbox").text, "the live page's inbox was empty at load"
        assert "MSISDN" in driver.find_element(By.ID, "state").text, "the live page's state was empty at load"
        wait_trace(driver, "PB DONE")
        # The stream goes on from the last line shown: no line twice.
        seqs = driver.execute_script("return lines.map((l) => l.seq)")
        assert len(seqs) == len(set(seqs)), "a trace line shown twice"
        # A fleet: every modem in the list; choosing one shows its state and trace.
        fleet_dir = work / "fleet"
        fleet = subprocess.Popen(
            [str(BIN), "--ready-json", "--control", "127.0.0.1:0", "--boot-delay", "0", "--modems", "2",
             "--efs", str(fleet_dir / "efs"), "--state", str(fleet_dir / "state"),
             "--link-dir", str(fleet_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert fleet.stdout is not None
            members = [json.loads(fleet.stdout.readline()) for _ in range(2)]
            driver.get(members[0]["control"] + "/")
            wait_trace(driver, "PB DONE")
            options_text = [o.text for o in Select(driver.find_element(By.ID, "modem")).options]
            assert len(options_text) == 2, options_text
            assert all(m["msisdn"] in t for m, t in zip(members, options_text, strict=True)), options_text
            Select(driver.find_element(By.ID, "modem")).select_by_value("1")
            WebDriverWait(driver, 10).until(
                lambda d: members[1]["msisdn"] in d.find_element(By.ID, "state").text
            )
            wait_trace(driver, "PB DONE")
            shot(driver, 8, "fleet-modem-1")
            driver.get("about:blank")  # the stream closed by the page, not by the process's end
        finally:
            fleet.terminate()
            fleet.wait(timeout=10)
        # No console errors on the way.
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"console errors: {errors}"
        print("dashboard-check: 8 steps passed, no console errors")
    except BaseException:
        print("--- sim5360 stderr ---\n" + (work / "stderr.log").read_text(errors="replace"), file=sys.stderr)
        raise
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
