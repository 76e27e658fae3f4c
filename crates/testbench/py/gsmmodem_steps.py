"""What the python-gsmmodem scripts share: running one step and recording its result."""
from gsmmodem.exceptions import CommandError, TimeoutException


def attempt(result, name, fn):
    """result[name] = fn(), or what the library raised."""
    try:
        result[name] = fn()
    except (CommandError, TimeoutException) as e:
        result[name] = {"error": type(e).__name__, "command": getattr(e, "command", None), "text": str(e)}
