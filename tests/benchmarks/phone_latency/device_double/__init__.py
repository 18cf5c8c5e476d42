"""TEST DOUBLE of an Android phone for the real adb: a small server that speaks adbd's wire protocol on a
loopback port (``adb connect 127.0.0.1:PORT``) and answers the harness's shell commands from recorded outputs of
real devices (``../device_recordings``, ``../shared/fixtures/benchmark_model``).

- ``wire``: the adbd side of the protocol (CNXN, AUTH, OPEN/OKAY/WRTE/CLSE), streams with adb's flow control.
- ``phone``: one phone: its files, its shell (the harness's command vocabulary), sync (push, pull, stat) and the
  behaviours a lab shows (a run that takes a set time, warms the phone, hangs, crashes, or the phone vanishing).
- ``lab``: private adb servers on loopback ports (two of them stand for two lab hosts) and phones attached to them.

It is part of the tests, not of the installed package, and listens on 127.0.0.1 only.
"""
