"""Firmware's socket flow (AT+NETOPEN, AT+CIPOPEN, AT+CIPSEND) against a local echo
server, driven with pyserial."""

import socketserver
import threading

import serial
from pyserial_script import command


def read_until(ser: serial.Serial, want: bytes) -> bytes:
    """What the modem says up to and including `want`; fails on a 5 s silence."""
    seen = b""
    while want not in seen:
        chunk = ser.read(1)
        assert chunk, f"no {want!r}; got {seen!r}"
        seen += chunk
    return seen


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


def test_tcp_echo(sim5360):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with serial.Serial(sim5360.port, 115200, timeout=5) as ser:
            command(ser, "ATE0")
            assert command(ser, "AT+NETOPEN") == ["OK"]
            assert read_until(ser, b"+NETOPEN: 0\r\n")
            assert command(ser, f'AT+CIPOPEN=0,"TCP","127.0.0.1",{port}') == ["OK"]
            assert read_until(ser, b"+CIPOPEN: 0,0\r\n")
            ser.write(b"AT+CIPSEND=0,5\r\n")  # the data right after, as Arduino firmware does
            assert read_until(ser, b">")
            ser.write(b"hello")
            seen = read_until(ser, b"+IPD5\r\nhello")
            assert b"+CIPSEND: 0,5,5\r\n" in seen, seen
            assert command(ser, "AT+CIPCLOSE=0") == ["OK"]
    finally:
        server.shutdown()
