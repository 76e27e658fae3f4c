"""A plain pyserial script, as firmware engineers write them: identify the module.

Needs pyserial (an optional package): `pip install "sim5360[serial]"` (or `[test]`).
"""

from __future__ import annotations

try:
    import serial  # type: ignore[import-untyped]
except ImportError as e:  # pragma: no cover - says what to install instead of a bare error
    raise ImportError('this example needs pyserial: pip install "sim5360[serial]"') from e


def command(ser: serial.Serial, line: str) -> list[str]:
    """Send `line` and return the answer lines up to the final result."""
    ser.write(line.encode() + b"\r\n")
    lines: list[str] = []
    while True:
        raw = ser.readline()
        if not raw:
            raise TimeoutError(f"{line}: no final result; got {lines}")
        text = raw.decode(errors="replace").strip()
        if text:
            lines.append(text)
        if text in ("OK", "ERROR") or text.startswith("+CME ERROR"):
            return lines


def identify(port: str) -> dict[str, str]:
    with serial.Serial(port, 115200, timeout=3) as ser:
        command(ser, "ATE0")
        return {"model": command(ser, "AT+CGMM")[0], "imei": command(ser, "AT+CGSN")[0]}


if __name__ == "__main__":
    import sys

    print(identify(sys.argv[1]))
