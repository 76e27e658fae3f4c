"""A DTE on the modem's port with the standard library: send an AT command and wait for
its final result, and wait for URCs. Every test that talks AT needs it, so it is here.

    >>> with Modem() as m, m.at_port() as at:     # doctest: +SKIP
    ...     at.command("AT+CSQ")                    # AtAnswer(lines=['+CSQ: 21,99'], result='OK')
    ...     m.control.deliver_sms(sender="+15551234567", text="hi")
    ...     at.expect(r'\\+CMTI: "SM",(\\d+)')        # the URC's line (a re.Match)
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
import tty
from dataclasses import dataclass, field

# Results that end a command (V.250, 27.007, 27.005, the dial results).
_FINAL = re.compile(
    r"^(OK|ERROR|NO CARRIER|NO DIALTONE|NO DIAL TONE|BUSY|NO ANSWER|CONNECT( .*)?"
    r"|\+CME ERROR: .*|\+CMS ERROR: .*)$"
)


class AtError(RuntimeError):
    """A command ended with an error result (`ERROR`, `+CME ERROR: <n>`, ...)."""

    def __init__(self, command: str, answer: AtAnswer) -> None:
        super().__init__(f"{command}: {answer.result} (after {answer.lines})")
        self.command = command
        self.answer = answer


@dataclass
class AtAnswer:
    """A command's information lines and its final result."""

    lines: list[str] = field(default_factory=list)
    result: str = ""

    @property
    def ok(self) -> bool:
        return self.result == "OK" or self.result.startswith("CONNECT")


class AtPort:
    """The modem's AT port opened raw, as a firmware's UART driver would. Lines are read
    as they come; those that are not part of a command's answer (URCs) are kept for
    `expect`. Commands end with CR LF, as Arduino-style firmware sends them."""

    def __init__(self, path: str, timeout: float = 5.0, echo_off: bool = True) -> None:
        self.timeout = timeout
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._fd)
        termios.tcflush(self._fd, termios.TCIOFLUSH)
        self._buf = b""
        #: Lines seen outside a command's answer (URCs), oldest first.
        self.urcs: list[str] = []
        if echo_off:
            self.command("ATE0")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AtPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        """Raw bytes to the modem (a payload after a prompt, `+++`)."""
        view = memoryview(data)
        while view:
            _, w, _ = select.select([], [self._fd], [], self.timeout)
            if not w:
                raise TimeoutError("the modem takes no input")
            n = os.write(self._fd, view)
            view = view[n:]

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self._fd], [], [], left)
        if not r:
            return False
        try:
            chunk = os.read(self._fd, 4096)
        except BlockingIOError:
            return True
        self._buf += chunk
        return True

    def _line(self, deadline: float, prompt: bool = False) -> str | None:
        """The next non-empty line (or a `>` prompt when `prompt`), None at the deadline."""
        while True:
            stripped = self._buf.lstrip(b"\r\n")
            if prompt and stripped.startswith(b">"):
                self._buf = stripped.lstrip(b"> ")
                return ">"
            if b"\n" in stripped:
                line, _, rest = stripped.partition(b"\n")
                self._buf = rest
                text = line.rstrip(b"\r").decode(errors="replace")
                if text:
                    return text
                continue
            if not self._fill(deadline):
                return None

    def _drain(self) -> None:
        """What came before a command (URCs) goes to `urcs`, not into its answer."""
        while self._fill(time.monotonic() + 0.001):
            pass
        while True:
            stripped = self._buf.lstrip(b"\r\n")
            if b"\n" not in stripped:
                self._buf = stripped
                return
            line, _, self._buf = stripped.partition(b"\n")
            text = line.rstrip(b"\r").decode(errors="replace")
            if text:
                self.urcs.append(text)

    def command(
        self, line: str, timeout: float | None = None, data: bytes | None = None, check: bool = True
    ) -> AtAnswer:
        """Send `line` (CR LF), wait for its final result; with `data`, send it at the `>`
        prompt first (an SMS body with its Ctrl-Z, a CIPSEND payload). Raises AtError on an
        error result when `check`, TimeoutError without a result in `timeout` seconds."""
        self._drain()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self.write(line.encode() + b"\r\n")
        answer = AtAnswer()
        waiting_prompt = data is not None
        while True:
            got = self._line(deadline, prompt=waiting_prompt)
            if got is None:
                raise TimeoutError(f"{line}: no final result (got {answer.lines})")
            if got == ">" and waiting_prompt:
                assert data is not None
                self.write(data)
                waiting_prompt = False
                continue
            if got == line:
                continue  # the echo, with ATE1
            if _FINAL.match(got):
                answer.result = got
                break
            answer.lines.append(got)
        if check and not answer.ok:
            raise AtError(line, answer)
        return answer

    def expect(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        """Wait for a URC matching `pattern` (a regular expression, searched in each line);
        one seen earlier counts, and is taken. TimeoutError if none comes."""
        rx = re.compile(pattern)
        for i, u in enumerate(self.urcs):
            m = rx.search(u)
            if m:
                del self.urcs[i]
                return m
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            got = self._line(deadline)
            if got is None:
                raise TimeoutError(f"no line matching {pattern!r} (seen: {self.urcs})")
            m = rx.search(got)
            if m:
                return m
            self.urcs.append(got)
