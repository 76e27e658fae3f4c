"""python-gsmmodem-new's message functions against a modem, in the order a gateway uses them.

connect(); an SMS to the module's own number in PDU mode with a delivery report (the
report and the message arriving through the incoming-SMS callback); a long message
(concatenated parts); the stored messages listed and deleted; a text-mode send; USSD; a
voice call. Prints one JSON object with what each step returned or raised; the modem's
whole exchange goes to stderr.
"""
import json
import logging
import sys
import threading
import time

from gsmmodem.modem import GsmModem, Sms
from gsmmodem_steps import attempt


def main():
    logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stderr)
    own = sys.argv[2]
    received = []
    arrived = threading.Event()

    def on_sms(sms):
        received.append({"number": sms.number, "text": sms.text})
        arrived.set()

    modem = GsmModem(sys.argv[1], 115200, smsReceivedCallbackFunc=on_sms)
    result = {}
    modem.connect()
    result["connect"] = "ok"

    def send_with_report():
        sms = modem.sendSms(own, "Alarm: door open", waitForDeliveryReport=True, deliveryTimeout=15)
        return {"reference": sms.reference, "status": sms.status}

    attempt(result, "sendSms", send_with_report)
    arrived.wait(15)
    result["received"] = list(received)

    # With the callback set, incoming messages are deleted once handled: a long message
    # is read back from the store instead, so the listing is checked too.
    modem.smsReceivedCallback = None
    long_text = "".join(chr(ord("a") + i % 26) for i in range(200))

    def send_long():
        parts = modem.sendSms("+15550001111", long_text)
        return {"reference": parts.reference}

    attempt(result, "sendLong", send_long)

    def list_after_own():
        modem.sendSms(own, "Stored for listing")
        time.sleep(2.5)
        return [{"number": s.number, "text": s.text} for s in modem.listStoredSms(status=Sms.STATUS_ALL, memory="ME")]

    attempt(result, "listStoredSms", list_after_own)

    def delete_all():
        modem.deleteMultipleStoredSms(4)
        return len(modem.listStoredSms(status=Sms.STATUS_ALL, memory="ME"))

    attempt(result, "deleteMultipleStoredSms", delete_all)

    def text_mode():
        modem.smsTextMode = True
        sms = modem.sendSms("+15550002222", "Text mode works")
        modem.smsTextMode = False
        return {"reference": sms.reference}

    attempt(result, "sendSmsText", text_mode)

    def ussd():
        u = modem.sendUssd("*100#", responseTimeout=10)
        return {"message": u.message, "sessionActive": u.sessionActive}

    attempt(result, "sendUssd", ussd)

    def call():
        c = modem.dial("+15550003333")
        deadline = time.time() + 10
        while not c.answered and time.time() < deadline:
            time.sleep(0.2)
        answered = c.answered
        c.hangup()
        return {"answered": answered}

    attempt(result, "dial", call)
    modem.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
