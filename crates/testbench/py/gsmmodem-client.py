"""python-gsmmodem-new against a modem: connect(), then the functions a gateway calls.

Prints one JSON object: how far connect() got (the command that stopped it and why),
then what each function returned or raised. The modem's whole exchange goes to stderr.
"""
import json
import logging
import sys

from gsmmodem.exceptions import CommandError, TimeoutException
from gsmmodem.modem import GsmModem
from gsmmodem_steps import attempt


def main():
    logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stderr)
    modem = GsmModem(sys.argv[1], 115200)
    result = {}
    try:
        modem.connect()
        result["connect"] = "ok"
    except CommandError as e:
        result["connect"] = {"error": "CommandError", "command": e.command, "code": e.code}
    except TimeoutException as e:
        result["connect"] = {"error": "TimeoutException", "text": str(e)}
    # The port stays open after a failed connect(): the functions still work.
    attempt(result, "manufacturer", lambda: modem.manufacturer)
    attempt(result, "model", lambda: modem.model)
    attempt(result, "revision", lambda: modem.revision)
    attempt(result, "imei", lambda: modem.imei)
    attempt(result, "imsi", lambda: modem.imsi)
    attempt(result, "signalStrength", lambda: modem.signalStrength)
    attempt(result, "networkName", lambda: modem.networkName)
    attempt(result, "ownNumber", lambda: modem.ownNumber)
    attempt(result, "waitForNetworkCoverage", lambda: modem.waitForNetworkCoverage(10))
    modem.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
