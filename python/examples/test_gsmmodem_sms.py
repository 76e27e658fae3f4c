"""python-gsmmodem-new sends an SMS to the modem's own number and receives it back
through its incoming-SMS callback; the control API shows the send in the outbox.

Needs python-gsmmodem-new (an optional package): `pip install "sim5360[test]"`.
"""

import threading

try:
    from gsmmodem.modem import GsmModem
except ImportError as e:  # pragma: no cover - says what to install instead of a bare error
    raise ImportError('this example needs python-gsmmodem-new: pip install "sim5360[test]"') from e


def test_sms_round_trip(sim5360):
    own = sim5360.control.state()["msisdn"]
    got = []
    arrived = threading.Event()

    def on_sms(sms):
        got.append((sms.number, sms.text))
        arrived.set()

    modem = GsmModem(sim5360.port, 115200, smsReceivedCallbackFunc=on_sms)
    modem.connect()
    try:
        modem.sendSms(own, "hello from python-gsmmodem")
        assert arrived.wait(15)
    finally:
        modem.close()
    assert got == [(own, "hello from python-gsmmodem")]
    assert sim5360.control.sms_outbox()[0]["text"] == "hello from python-gsmmodem"
