"""The PC's CMOS real-time clock (a Motorola MC146818): an index port and a data port, the
time and date in BCD, status registers A-D and the rest of the 128 bytes as CMOS RAM.

Why the machine has one: Linux reads the time from it at boot, and its rtc_cmos driver
probes it; with nothing at 0x70/0x71 every read is 0xFF, whose UIP bit ("update in
progress") never clears, and the probe gives up only after retrying for seconds (7 s of a
Linux guest's boot in the kernel lab). The suite's own image never touches it.

What it keeps: the time is the host's (UTC) at each read, in 24-hour BCD mode; a guest that
writes the time registers is ignored (the clock is the host's to keep); UIP always reads 0
(an update is instantaneous here); no interrupt is ever raised (register C reads 0), so the
periodic, alarm and update-ended interrupts are absent, as the datasheet allows a system
that never enables them. Bit 7 of the index port (NMI disable, on a PC) is ignored.
"""

import time

PORT = 0x70  # index; PORT + 1 is data
SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR = 0x0, 0x2, 0x4, 0x6, 0x7, 0x8, 0x9
STATUS_A, STATUS_B, STATUS_C, STATUS_D = 0xA, 0xB, 0xC, 0xD
CENTURY = 0x32  # where PCs keep it (the ACPI FADT's default)
# A: 32.768 kHz time base, 1024 Hz rate selection, UIP clear. B: 24-hour, BCD, no
# interrupts enabled. D: VRT, the battery is good (the time and RAM are valid).
STATUS_A_VALUE, STATUS_B_24H, STATUS_D_VRT = 0x26, 0x02, 0x80
WRITABLE_B = 0x7F & ~0x06  # SET and the interrupt enables: not DM or 24/12, fixed here
RAM_SIZE = 128


def bcd(value):
    return (value // 10) << 4 | value % 10


class CmosRtc:
    def __init__(self, clock=time.time):
        """clock(): seconds since the epoch, read for every time register."""
        self._clock = clock
        self.index = 0
        self.ram = bytearray(RAM_SIZE)
        self.reset()

    def reset(self):
        """Status registers as after power-on; CMOS RAM keeps its contents (it is battery
        backed)."""
        self.ram[STATUS_A] = STATUS_A_VALUE
        self.ram[STATUS_B] = STATUS_B_24H
        self.ram[STATUS_C] = 0
        self.ram[STATUS_D] = STATUS_D_VRT

    def read(self, offset, size):
        value = self.index if offset == 0 else self._register(self.index)
        return bytes([value]) + b"\0" * (size - 1)

    def write(self, offset, data):
        if offset == 0:
            self.index = data[0] & 0x7F
        elif self.index == STATUS_B:
            self.ram[STATUS_B] = data[0] & WRITABLE_B | STATUS_B_24H
        elif self.index == STATUS_A:
            self.ram[STATUS_A] = data[0] & 0x7F  # UIP is read-only
        elif self.index not in TIME_FIELDS and self.index not in (STATUS_C, STATUS_D):
            self.ram[self.index] = data[0]

    def _register(self, index):
        if index in TIME_FIELDS:
            return bcd(TIME_FIELDS[index](time.gmtime(self._clock())))
        return self.ram[index]


TIME_FIELDS = {
    SECONDS: lambda t: min(t.tm_sec, 59),
    MINUTES: lambda t: t.tm_min,
    HOURS: lambda t: t.tm_hour,
    WEEKDAY: lambda t: (t.tm_wday + 1) % 7 + 1,  # 1 = Sunday
    DAY: lambda t: t.tm_mday,
    MONTH: lambda t: t.tm_mon,
    YEAR: lambda t: t.tm_year % 100,
    CENTURY: lambda t: t.tm_year // 100,
}
