"""Running the emulator from Python: one modem (`Modem`) or a fleet (`Fleet`), each a
process of the sim5360 binary with its own EFS, state and PTY under a directory, found
through the process's `--ready-json` line (no ports or paths fixed: safe in parallel)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from ._find import find_sim5360_bin
from .at import AtPort
from .control import ControlClient


class ModemExited(RuntimeError):
    """The binary ended before it was ready (or while in use); its stderr is attached."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(f"{message}\n--- sim5360 stderr ---\n{stderr}")
        self.stderr = stderr


class _Process:
    """The binary with `args`, its ready lines read, stopped on close (SIGTERM, then
    SIGKILL after 5 s)."""

    def __init__(
        self, args: Sequence[str], directory: Path, lines: int, binary: Path | None, timeout: float
    ) -> None:
        self.directory = directory
        self.stderr_path = directory / "stderr.log"
        self._stderr: IO[bytes] = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in close())
        cmd = [str(binary or find_sim5360_bin()), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True)
        self.ready: list[dict[str, Any]] = []
        assert self.proc.stdout is not None
        try:
            self._read_ready(self.proc.stdout, lines, time.monotonic() + timeout)
        except BaseException:
            self.close()
            raise

    def _read_ready(self, out: IO[bytes], lines: int, deadline: float) -> None:
        """The `--ready-json` lines, waited for with a deadline (a hung binary never hangs
        the test): select on the pipe, split the bytes into lines ourselves."""
        buf = b""
        fd = out.fileno()
        while len(self.ready) < lines:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModemExited("sim5360 was not ready in time", self.stderr())
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait(timeout=5)
                raise ModemExited(
                    f"sim5360 exited with {self.proc.returncode} before it was ready", self.stderr()
                )
            buf += chunk
            *done, buf = buf.split(b"\n")
            self.ready += [json.loads(ln) for ln in done if ln.startswith(b"{")]

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


def _common(
    directory: Path, boot_delay: str, profile: str, pin: str | None, extra: Sequence[str]
) -> list[str]:
    args = ["--ready-json", "--control", "127.0.0.1:0", "--boot-delay", boot_delay, "--profile", profile]
    args += ["--efs", str(directory / "efs"), "--state", str(directory / "state")]
    if pin:
        args += ["--pin", pin]
    return [*args, *extra]


_R = TypeVar("_R", bound="_Running")


class _Running:
    """A directory (a temporary one unless given) and the binary's process in it: what
    `Modem` and `Fleet` share."""

    _process: _Process

    def _start(
        self,
        directory: str | os.PathLike[str] | None,
        prefix: str,
        args: Callable[[Path], list[str]],
        lines: int,
        binary: str | os.PathLike[str] | None,
        timeout: float,
    ) -> None:
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix=prefix)
        self.directory = Path(directory) if directory else Path(self._tmp.name if self._tmp else ".")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = _Process(
            args(self.directory), self.directory, lines, Path(binary) if binary else None, timeout
        )

    def stderr(self) -> str:
        """What the binary logged."""
        return self._process.stderr()

    def close(self) -> None:
        self._process.close()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self: _R) -> _R:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Modem(_Running):
    """One emulated module, its own process. Use it as a context manager:

    >>> with Modem() as m:                 # doctest: +SKIP
    ...     m.port                         # the PTY link a serial library opens
    ...     m.control.deliver_sms(sender="+15551234567", text="hello")
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        profile: str = "sim5360",
        pin: str | None = None,
        network: str | None = None,
        boot_delay: str = "0",
        extra_args: Sequence[str] = (),
        binary: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        def args(d: Path) -> list[str]:
            own = ["--no-nmea", "--link", str(d / "ttySIM5360")]
            return [*_common(d, boot_delay, profile, pin, extra_args), *own]

        self._start(directory, "sim5360-", args, 1, binary, timeout)
        ready = self._process.ready[0]
        self.port: str = str(ready["link"])
        self.pty: str = str(ready["pty"])
        self.pid: int = int(ready["pid"])
        self.control = ControlClient(str(ready["control"]))
        if network:
            try:
                self.control.set_network(network)
            except BaseException:
                self.close()
                raise

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the module is past its first boot line (from the control state)."""
        deadline = time.monotonic() + timeout
        while not self.control.state().get("awake"):
            if not self._process.alive():
                raise ModemExited("sim5360 exited", self._process.stderr())
            if time.monotonic() > deadline:
                raise TimeoutError("the modem did not boot in time")
            time.sleep(0.02)

    def at_port(self, timeout: float = 5.0) -> AtPort:
        """The AT port opened raw, with `command()` and `expect()` (the standard library)."""
        return AtPort(self.port, timeout)

    def open_serial(self, baudrate: int = 115200, timeout: float = 2.0) -> Any:
        """A pyserial port on the modem (the `serial` extra)."""
        import serial  # type: ignore[import-untyped]  # optional dependency

        return serial.Serial(self.port, baudrate, timeout=timeout)


class FleetModem:
    """One modem of a fleet: its port, identity and control client."""

    def __init__(self, ready: dict[str, Any]) -> None:
        self.id: int = int(ready["id"])
        self.port: str = str(ready["link"])
        self.msisdn: str = str(ready["msisdn"])
        self.imei: str = str(ready["imei"])
        self.control = ControlClient(str(ready["control"]), modem=self.id)

    def at_port(self, timeout: float = 5.0) -> AtPort:
        """This modem's AT port opened raw, with `command()` and `expect()`."""
        return AtPort(self.port, timeout)


class Fleet(_Running):
    """`n` modems in one process (`--modems n`) whose numbers reach each other by SMS and
    calls (docs/fleet.md)."""

    def __init__(
        self,
        n: int,
        directory: str | os.PathLike[str] | None = None,
        *,
        profile: str = "sim5360",
        msisdn_base: int = 15550000000,
        boot_delay: str = "0",
        extra_args: Sequence[str] = (),
        binary: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        def args(d: Path) -> list[str]:
            own = ["--modems", str(n), "--msisdn-base", str(msisdn_base), "--link-dir", str(d)]
            return [*_common(d, boot_delay, profile, None, extra_args), *own]

        self._start(directory, "sim5360-fleet-", args, n, binary, timeout)
        self.modems = [FleetModem(r) for r in self._process.ready]

    def __getitem__(self, i: int) -> FleetModem:
        return self.modems[i]

    def __len__(self) -> int:
        return len(self.modems)


def fleet(n: int, **kwargs: Any) -> Fleet:
    """`Fleet(n, ...)`."""
    return Fleet(n, **kwargs)
