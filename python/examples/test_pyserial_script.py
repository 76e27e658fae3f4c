"""The pyserial script, tested with the fixture."""

from pyserial_script import identify


def test_identify(sim5360):
    got = identify(sim5360.port)
    assert got["model"] == "SIMCOM_SIM5360E"
    assert len(got["imei"]) == 15
