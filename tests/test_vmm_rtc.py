"""The CMOS clock (kvmnet.vmm.rtc): what Linux's boot and rtc_cmos driver read from it."""

import calendar

from kvmnet.vmm.rtc import (CENTURY, DAY, HOURS, MINUTES, MONTH, SECONDS, STATUS_A, STATUS_B,
                            STATUS_C, STATUS_D, WEEKDAY, YEAR, CmosRtc)

# Sunday 2026-12-06 16:59:07 UTC
WHEN = calendar.timegm((2026, 12, 6, 16, 59, 7, 0, 0, 0))


def read(rtc, index):
    rtc.write(0, bytes([index]))
    return rtc.read(1, 1)[0]


def test_the_time_reads_as_the_hosts_utc_in_bcd():
    rtc = CmosRtc(clock=lambda: WHEN)
    got = {name: read(rtc, index) for name, index in [
        ("sec", SECONDS), ("min", MINUTES), ("hour", HOURS), ("wday", WEEKDAY),
        ("day", DAY), ("month", MONTH), ("year", YEAR), ("century", CENTURY)]}
    assert got == {"sec": 0x07, "min": 0x59, "hour": 0x16, "wday": 0x01, "day": 0x06,
                   "month": 0x12, "year": 0x26, "century": 0x20}, got


def test_status_says_no_update_in_progress_24_hour_bcd_and_a_good_battery():
    rtc = CmosRtc(clock=lambda: WHEN)
    assert read(rtc, STATUS_A) & 0x80 == 0  # UIP: Linux's probe waits while it is set
    assert read(rtc, STATUS_B) & 0x06 == 0x02  # 24-hour, BCD
    assert read(rtc, STATUS_C) == 0
    assert read(rtc, STATUS_D) == 0x80


def test_the_guest_neither_sets_the_time_nor_leaves_bcd_and_ram_keeps_its_bytes():
    rtc = CmosRtc(clock=lambda: WHEN)
    for index, value in [(HOURS, 0x03), (STATUS_B, 0x04), (STATUS_A, 0xA6), (0x40, 0x5A)]:
        rtc.write(0, bytes([index | 0x80]))  # bit 7, NMI disable on a PC, is not the index
        rtc.write(1, bytes([value]))
    assert read(rtc, HOURS) == 0x16
    assert read(rtc, STATUS_B) & 0x06 == 0x02
    assert read(rtc, STATUS_A) == 0x26
    assert read(rtc, 0x40) == 0x5A
    rtc.reset()
    assert read(rtc, 0x40) == 0x5A  # battery-backed
