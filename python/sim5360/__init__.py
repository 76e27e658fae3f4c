"""The virtual SIMCom SIM5360 module for tests.

`Modem` runs one emulated module in its own process (a PTY at `.port`, its control API at
`.control`); `Fleet` / `fleet(n)` runs n that reach each other; `ControlClient` is the
control API's client (docs/control.md); the pytest plugin (`sim5360.pytest_plugin`,
registered as a pytest11 entry point) gives the fixtures `sim5360`, `sim5360_factory`,
`sim5360_fleet_factory`, `sim5360_noproc` and `sim5360_bin`.
"""

from ._find import BinaryNotFound, find_sim5360_bin
from .at import AtAnswer, AtError, AtPort
from .control import ControlClient, ControlError
from .modem import Fleet, FleetModem, Modem, ModemExited, fleet

__all__ = [
    "AtAnswer",
    "AtError",
    "AtPort",
    "BinaryNotFound",
    "ControlClient",
    "ControlError",
    "Fleet",
    "FleetModem",
    "Modem",
    "ModemExited",
    "find_sim5360_bin",
    "fleet",
]
