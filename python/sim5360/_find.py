"""Where the sim5360 binary is: $SIM5360_BIN, the scripts directory of this installation
(where the wheel puts it), PATH, then a repository checkout's target/release."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path


class BinaryNotFound(FileNotFoundError):
    """No sim5360 binary in any of the places looked at."""


def find_sim5360_bin() -> Path:
    """The path of the sim5360 binary; BinaryNotFound says where it looked."""
    looked: list[str] = []
    env = os.environ.get("SIM5360_BIN")
    if env:
        p = Path(env)
        if p.is_file():
            return p
        looked.append(f"$SIM5360_BIN={env}")
    scripts = sysconfig.get_path("scripts")
    candidates = [Path(scripts) / "sim5360", Path(sys.prefix) / "bin" / "sim5360"]
    user = sysconfig.get_path("scripts", f"{os.name}_user")
    if user:
        candidates.append(Path(user) / "sim5360")
    for c in candidates:
        if c.is_file():
            return c
        looked.append(str(c))
    on_path = shutil.which("sim5360")
    if on_path:
        return Path(on_path)
    looked.append("PATH")
    here = Path(__file__).resolve()
    for parent in here.parents:
        c = parent / "target" / "release" / "sim5360"
        if c.is_file():
            return c
    looked.append("target/release of a checkout")
    raise BinaryNotFound("no sim5360 binary; looked at: " + ", ".join(looked))
