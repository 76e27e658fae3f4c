"""A client of the emulator's control API (docs/control.md): the standard library only."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

JSON = Any


class ControlError(RuntimeError):
    """The API refused a request: its HTTP status and reason."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{error} ({status})")
        self.status = status
        self.error = error


class ControlClient:
    """The control API of one modem (`modem` is its id in a fleet)."""

    def __init__(self, url: str, modem: int = 0, token: str | None = None, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.modem = modem
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: JSON | None = None) -> JSON:
        """`method` on `path` (relative to /api/v1/modems/<id>, or absolute when it starts
        with /); the JSON answer, None for 204."""
        url = self.url + (path if path.startswith("/") else f"/api/v1/modems/{self.modem}/{path}".rstrip("/"))
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                err = json.loads(text)
                raise ControlError(int(err.get("status", e.code)), str(err.get("error", text))) from None
            except ValueError:
                raise ControlError(e.code, text) from None
        return json.loads(raw) if raw else None

    # State and the mailboxes.
    def state(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.request("GET", ""))

    def sms_outbox(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self.request("GET", "sms?box=outbox"))

    def sms_inbox(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self.request("GET", "sms?box=inbox"))

    def deliver_sms(self, sender: str, text: str | None = None, pdu: str | None = None) -> dict[str, Any]:
        """An SMS from the network: `+CMTI`/`+CMT` at the DTE per its AT+CNMI."""
        body: dict[str, Any] = {"from": sender}
        if text is not None:
            body["text"] = text
        if pdu is not None:
            body["pdu"] = pdu
        return cast("dict[str, Any]", self.request("POST", "sms", body))

    def trace(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest AT trace lines (secrets masked)."""
        return cast("list[dict[str, Any]]", self.request("GET", f"trace?limit={limit}"))

    # The radio, the SIM, the sky.
    def radio(self, **fields: Any) -> None:
        self.request("PATCH", "radio", fields)

    def set_coverage(self, lost: bool, for_ms: int | None = None, reregister_ms: int | None = None) -> None:
        body: dict[str, Any] = {"lost": lost}
        if for_ms is not None:
            body["for_ms"] = for_ms
        if reregister_ms is not None:
            body["reregister_ms"] = reregister_ms
        self.request("POST", "coverage", body)

    @contextlib.contextmanager
    def coverage_lost(self, reregister_ms: int = 0) -> Iterator[None]:
        """Coverage gone inside the block, back (registered after `reregister_ms`) after."""
        self.set_coverage(True)
        try:
            yield
        finally:
            self.set_coverage(False, reregister_ms=reregister_ms)

    def sim(self, present: bool) -> None:
        self.request("PATCH", "sim", {"present": present})

    def gnss(self, lat: float, lon: float, alt_m: float = 0.0) -> None:
        self.request("PUT", "gnss", {"fix": True, "lat": lat, "lon": lon, "alt_m": alt_m})

    def gnss_off(self) -> None:
        self.request("PUT", "gnss", {"fix": False})

    def urc(self, line: str) -> None:
        self.request("POST", "urc", {"line": line})

    # Answers, faults, conditions.
    def override(self, command: str, lines: list[str] | None = None, result: str = "OK", **more: Any) -> int:
        body = {"command": command, "lines": lines or [], "result": result, **more}
        return int(self.request("POST", "overrides", body)["id"])

    def add_fault(
        self,
        service: str,
        kind: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float | None = None,
        seed: int | None = None,
        times: int | None = None,
        **attributes: float,
    ) -> dict[str, Any]:
        """A fault (docs/control.md, Faults): `kind` with its attributes as keywords
        (`latency=300`, `timeout=0`); `name` (default `<service>_<kind>`), `stream`
        ("downstream", what the module receives, or "upstream"), `toxicity` (0-1, the share
        of connections; below 1 needs `seed`), `times` (affect this many connections)."""
        body: dict[str, Any] = {"service": service, "type": kind, "attributes": attributes, "stream": stream}
        for key, value in (("name", name), ("toxicity", toxicity), ("seed", seed), ("times", times)):
            if value is not None:
                body[key] = value
        return cast("dict[str, Any]", self.request("POST", "faults", body))

    def remove_fault(self, name: str) -> None:
        self.request("DELETE", f"faults/{name}")

    @contextlib.contextmanager
    def fault(self, service: str, kind: str, **options: Any) -> Iterator[dict[str, Any]]:
        """A fault for the block's duration (the options of `add_fault`)."""
        f = self.add_fault(service, kind, **options)
        try:
            yield f
        finally:
            self.remove_fault(str(f["name"]))

    def set_network(self, preset: str | None = None, **figures: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"preset": preset} if preset else dict(figures)
        return cast("dict[str, Any]", self.request("PUT", "network", body))

    @contextlib.contextmanager
    def network(self, preset: str) -> Iterator[None]:
        """A network preset (umts, gprs, ...) inside the block, `full` after."""
        self.set_network(preset)
        try:
            yield
        finally:
            self.set_network("full")

    def reboot(self) -> None:
        self.request("POST", "reboot")

    def reset(self) -> None:
        self.request("POST", "/api/v1/reset")
