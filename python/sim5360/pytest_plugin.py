"""pytest fixtures for the emulator (a pytest11 entry point: active once installed).

- `sim5360_bin` (session): the binary's path; an error, never a skip, when missing.
- `sim5360`: a fresh `Modem` for the test (boot delay 0, paths under `tmp_path`);
  `@pytest.mark.sim5360(profile=..., network=..., pin=...)` configures it.
- `sim5360_factory`: a callable making more `Modem`s, all stopped at the test's end.
- `sim5360_fleet_factory`: the same for `Fleet`s.
- `sim5360_noproc`: a `ControlClient` for a modem already running (`$SIM5360_CONTROL`).

Every port and path is the test's own (control port 0, links under `tmp_path`), so
pytest-xdist runs them in parallel. When a test fails, the last 200 trace lines of each of
its modems are added to its report; `--sim5360-keep-traces DIR` also writes them there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ._find import BinaryNotFound, find_sim5360_bin
from .control import ControlClient
from .modem import Fleet, Modem

_MODEMS = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sim5360")
    group.addoption(
        "--sim5360-bin", default=None, help="the sim5360 binary (default: $SIM5360_BIN, the installed one)"
    )
    group.addoption(
        "--sim5360-keep-traces", default=None, help="write each failed test's modem traces to this directory"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sim5360(**kwargs): settings of the sim5360 fixture's Modem")


@pytest.fixture(scope="session")
def sim5360_bin(pytestconfig: pytest.Config) -> Path:
    given = pytestconfig.getoption("--sim5360-bin")
    if given:
        p = Path(str(given))
        if not p.is_file():
            raise BinaryNotFound(f"--sim5360-bin {p}: no such file")
        return p
    return find_sim5360_bin()


_M = TypeVar("_M", Modem, Fleet)


def _keep(request: pytest.FixtureRequest, m: _M) -> _M:
    request.node.stash.setdefault(_MODEMS, []).append(m)
    return m


def _factory(
    request: pytest.FixtureRequest, tmp_path: Path, binary: Path, kind: str, start: Callable[..., _M]
) -> Iterator[Callable[..., _M]]:
    """A callable that starts `start(*args, directory=<tmp_path>/<kind>-<i>, ...)` (the
    session's binary unless given) and remembers it for the report; all closed after."""
    made: list[_M] = []

    def make(*args: Any, **kwargs: Any) -> _M:
        kwargs.setdefault("binary", binary)
        m = start(*args, directory=tmp_path / f"{kind}-{len(made)}", **kwargs)
        made.append(m)
        return _keep(request, m)

    yield make
    for m in made:
        m.close()


@pytest.fixture
def sim5360_factory(
    request: pytest.FixtureRequest, tmp_path: Path, sim5360_bin: Path
) -> Iterator[Callable[..., Modem]]:
    yield from _factory(request, tmp_path, sim5360_bin, "modem", Modem)


@pytest.fixture
def sim5360(request: pytest.FixtureRequest, sim5360_factory: Callable[..., Modem]) -> Modem:
    marker = request.node.get_closest_marker("sim5360")
    kwargs = dict(marker.kwargs) if marker else {}
    m = sim5360_factory(**kwargs)
    m.wait_ready()
    return m


@pytest.fixture
def sim5360_fleet_factory(
    request: pytest.FixtureRequest, tmp_path: Path, sim5360_bin: Path
) -> Iterator[Callable[..., Fleet]]:
    """`make(n, **kwargs) -> Fleet`."""
    yield from _factory(request, tmp_path, sim5360_bin, "fleet", Fleet)


@pytest.fixture
def sim5360_noproc() -> ControlClient:
    url = os.environ.get("SIM5360_CONTROL")
    if not url:
        raise RuntimeError("sim5360_noproc: set SIM5360_CONTROL to a running modem's control URL")
    return ControlClient(url, token=os.environ.get("SIM5360_CONTROL_TOKEN"))


def _trace_text(m: Any) -> str:
    clients = [m.control] if isinstance(m, Modem) else [fm.control for fm in m.modems]
    parts = []
    for c in clients:
        try:
            lines = c.trace(200)
        except Exception as e:  # the modem may be gone: say so, keep the report
            parts.append(f"(modem {c.modem}: no trace: {e})")
            continue
        parts.append(f"--- modem {c.modem} ---")
        parts += [f"[{ln['t']:12.6f}] {ln['dir']:>4} {ln['text']}" for ln in lines]
    return "\n".join(parts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when != "call" or not report.failed:
        return report
    keep = item.config.getoption("--sim5360-keep-traces")
    kept: list[Any] = item.stash.get(_MODEMS, [])
    for i, m in enumerate(kept):
        text = _trace_text(m)
        report.sections.append((f"sim5360 trace {i}", text))
        if keep:
            d = Path(str(keep))
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{item.name}-{i}.log").write_text(text)
    return report
