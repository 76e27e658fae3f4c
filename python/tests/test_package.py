"""The package's own suite: the fixtures against the real binary."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import sim5360
from sim5360 import AtError, ControlError, Modem


def at(m: Modem, line: str, timeout: float = 5.0) -> str:
    """One command line over the PTY with the standard library: the answer up to OK/ERROR."""
    fd = os.open(m.port, os.O_RDWR | os.O_NOCTTY)
    try:
        import termios
        import tty

        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIOFLUSH)
        os.write(fd, line.encode() + b"\r")
        got = b""
        deadline = time.monotonic() + timeout
        while b"OK\r\n" not in got and b"ERROR" not in got:
            assert time.monotonic() < deadline, got
            got += os.read(fd, 4096)
        return got.decode()
    finally:
        os.close(fd)


def test_the_fixture_gives_a_booted_modem(sim5360: Modem) -> None:
    assert Path(sim5360.port).exists()
    assert "OK" in at(sim5360, "AT")
    state = sim5360.control.state()
    assert state["sim"] == "ready" and state["registration"]["cs"] == "home"


@pytest.mark.sim5360(profile="sim7600")
def test_the_marker_configures_it(sim5360: Modem) -> None:
    assert "SIMCOM_SIM7600E" in at(sim5360, "AT+CGMM")


def test_the_control_api_delivers_and_records(sim5360: Modem) -> None:
    got = sim5360.control.deliver_sms(sender="+15551234567", text="hello")
    assert got == {"mem": "SM", "index": 1}
    assert sim5360.control.sms_inbox()[0]["text"] == "hello"
    with sim5360.control.coverage_lost():
        assert "+CREG: 0,2" in at(sim5360, "AT+CREG?")
    with pytest.raises(ControlError) as e:
        sim5360.control.request("DELETE", "overrides/99")
    assert e.value.status == 404
    oid = sim5360.control.override("+CSQ", lines=["+CSQ: 5,5"])
    assert oid >= 1
    assert "+CSQ: 5,5" in at(sim5360, "AT+CSQ")


def test_factory_and_fleet(sim5360_factory, sim5360_fleet_factory) -> None:  # type: ignore[no-untyped-def]
    a = sim5360_factory(pin="1234")
    assert "SIM PIN" in at(a, "AT+CPIN?")
    f = sim5360_fleet_factory(2)
    assert len(f) == 2 and f[0].imei != f[1].imei
    assert f[1].control.state()["msisdn"] == f[1].msisdn


def test_an_early_exit_says_why(tmp_path: Path, sim5360_bin: Path) -> None:
    with pytest.raises(sim5360.ModemExited) as e:
        Modem(tmp_path, binary=sim5360_bin, extra_args=["--pin", "12"])
    assert "--pin" in e.value.stderr


def test_noproc_needs_a_url(
    monkeypatch: pytest.MonkeyPatch, sim5360: Modem, pytester: pytest.Pytester
) -> None:
    monkeypatch.setenv("SIM5360_CONTROL", sim5360.control.url)
    pytester.makepyfile(
        """
        def test_attach(sim5360_noproc):
            assert sim5360_noproc.state()["sim"] == "ready"
        """
    )
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider").ret == 0


def test_a_failed_test_reports_its_trace(pytester: pytest.Pytester, sim5360_bin: Path) -> None:
    pytester.makepyfile(
        """
        def test_fails(sim5360):
            sim5360.control.urc("MARKER-LINE")
            assert False
        """
    )
    keep = pytester.path / "traces"
    r = pytester.runpytest_subprocess(f"--sim5360-bin={sim5360_bin}", f"--sim5360-keep-traces={keep}")
    assert r.ret == 1
    r.stdout.fnmatch_lines(["*sim5360 trace 0*"])
    text = next(keep.iterdir()).read_text()
    assert "MARKER-LINE" in text and "note" in text


def test_the_ready_line_is_json(sim5360: Modem) -> None:
    # The JSON line the binary printed, as the package parsed it: every field it uses.
    ready = sim5360._process.ready[0]
    assert (ready["link"], ready["pty"], ready["pid"]) == (sim5360.port, sim5360.pty, sim5360.pid)
    assert ready["control"].startswith("http://127.0.0.1:") and Path(ready["pty"]).exists()
    os.kill(sim5360.pid, 0)


def test_every_control_helper_reaches_the_modem(sim5360: Modem) -> None:
    c = sim5360.control
    c.radio(rssi=7)
    assert "+CSQ: 7," in at(sim5360, "AT+CSQ")
    c.gnss(48.8584, 2.2945, alt_m=35)
    assert c.state()["gnss"]["position_injected"] is True
    with c.fault("http", "latency", latency=10) as f:
        assert [x["name"] for x in c.request("GET", "faults")] == [f["name"]]
    assert c.request("GET", "faults") == []
    with c.network("gprs"):
        assert c.request("GET", "network")["preset"] == "gprs"
    assert c.request("GET", "network")["preset"] == "full"
    c.sim(False)
    assert c.state()["sim"] != "ready"
    c.reset()
    assert c.state()["sim"] == "ready"
    c.urc("HELLO-URC")
    assert any("HELLO-URC" in ln["text"] for ln in c.trace())
    c.reboot()
    sim5360.wait_ready()


def test_the_wheel_is_what_runs(sim5360_bin: Path) -> None:
    """Under scripts/python-check.sh: the installed module and the binary from the wheel,
    not the checkout's sources or target/."""
    venv = os.environ.get("SIM5360_CHECK_VENV")
    if venv is None:
        pytest.skip("only under scripts/python-check.sh, which sets SIM5360_CHECK_VENV")
    assert Path(sim5360.__file__).resolve().is_relative_to(Path(venv).resolve())
    assert sim5360_bin.resolve() == (Path(venv) / "bin" / "sim5360").resolve()


def test_a_refused_setting_stops_the_process(tmp_path: Path, sim5360_bin: Path) -> None:
    with pytest.raises(ControlError) as e:
        Modem(tmp_path, binary=sim5360_bin, network="no-such-preset")
    assert e.value.status == 400
    # The process is gone: its link is removed on exit.
    deadline = time.monotonic() + 5
    while (tmp_path / "ttySIM5360").exists():
        assert time.monotonic() < deadline, "the modem's process outlived the failed Modem()"
        time.sleep(0.05)


def test_the_at_helper_answers_and_waits_for_urcs(sim5360: Modem) -> None:
    with sim5360.at_port() as port:
        answer = port.command("AT+CSQ")
        assert (answer.lines, answer.result) == (["+CSQ: 21,99"], "OK")
        with pytest.raises(AtError) as e:
            port.command("AT+CPIN=1234")
        assert e.value.answer.result == "ERROR"
        assert port.command("AT+CMEE=2").ok
        got = port.command("AT+CPIN=1234", check=False)
        assert got.result == "+CME ERROR: operation not allowed"
        # A prompt: the body goes at `>`, the answer comes after it.
        port.command("AT+CMGF=1")
        sent = port.command('AT+CMGS="+15551234567"', data=b"hello\x1a", timeout=10)
        assert sent.lines == ["+CMGS: 0"]
        assert sim5360.control.sms_outbox()[0]["text"] == "hello"
        # A URC the control API raises, waited for.
        sim5360.control.deliver_sms(sender="+15557654321", text="hi")
        m = port.expect(r'\+CMTI: "SM",(\d+)')
        assert m.group(1) == "1"
        with pytest.raises(TimeoutError):
            port.expect("NEVER", timeout=0.2)


def test_every_fault_option_from_python(sim5360: Modem) -> None:
    options = {"name": "slow", "stream": "upstream", "toxicity": 0.5, "seed": 7, "times": 2}
    f = sim5360.control.add_fault("http", "latency", latency=200, jitter=10, **options)
    assert (f["name"], f["stream"], f["toxicity"], f["times"]) == ("slow", "upstream", 0.5, 2)
    assert f["attributes"] == {"latency": 200, "jitter": 10}
    with sim5360.control.fault("ftp", "refuse", times=1) as g:
        assert g["times"] == 1
    with pytest.raises(ControlError) as e:
        sim5360.control.add_fault("http", "latency", lat=5)
    assert 'a latency fault has no attribute "lat"' in e.value.error


def test_the_readme_example(sim5360: Modem) -> None:
    with sim5360.at_port() as at:
        assert at.command("AT+CSQ").lines == ["+CSQ: 21,99"]
        sim5360.control.deliver_sms(sender="+15551234567", text="hello")
        index = at.expect(r'\+CMTI: "SM",(\d+)').group(1)
        at.command("AT+CMGF=1")
        assert at.command(f"AT+CMGR={index}").lines[-1] == "hello"
