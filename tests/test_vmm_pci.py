"""kvmnet.vmm.pci: configuration mechanism #1 and type-0 headers, as a guest sees them."""

import pytest

from kvmnet.vmm.bus import Bus
from kvmnet.vmm.pci import Bar, PciBus, PciDevice

SLOT = 3
ID, COMMAND, STATUS, CLASS, HEADER, BAR0, BAR1, BAR2, INTR = (
    0x00, 0x04, 0x06, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x3C)
CMD_IO, CMD_MEM, CMD_MASTER = 0x1, 0x2, 0x4
ST_CAP_LIST, ST_MASTER_PARITY, ST_DETECTED_PARITY = 0x0010, 0x0100, 0x8000


class Region(str):
    """What a BAR maps onto the port or MMIO bus; only where it lands matters here."""


class Card(PciDevice):
    """A 4 KiB memory BAR 0 and a 32-byte I/O BAR 1, INTA#, and two status bits set."""

    def __init__(self, bars=None):
        self.mem, self.io = Region("mem"), Region("io")
        super().__init__(0x1AF4, 0x1000, class_code=0x020000, revision=1, interrupt_pin=1,
                         bars=bars or [Bar(0x1000, device=self.mem),
                                       Bar(0x20, io=True, device=self.io)])
        status = ST_DETECTED_PARITY | ST_MASTER_PARITY
        self.config[STATUS:STATUS + 2] = status.to_bytes(2, "little")


@pytest.fixture
def pio():
    return Bus("port I/O")


@pytest.fixture
def mmio():
    return Bus("MMIO")


@pytest.fixture
def card():
    return Card()


@pytest.fixture
def pci(pio, mmio, card):
    bus = PciBus(pio, mmio)
    bus.add(SLOT, card)
    return bus


def address(slot, reg, bus=0, function=0, enable=True):
    return enable << 31 | bus << 16 | slot << 11 | function << 8 | reg & 0xFC


def cfg_read(pci, slot, reg, size=4, **select):
    """outl(address, 0xCF8); in{b,w,l}(0xCFC + reg % 4)"""
    pci.write(0, address(slot, reg, **select).to_bytes(4, "little"))
    return int.from_bytes(pci.read(4 + reg % 4, size), "little")


def cfg_write(pci, slot, reg, value, size=4, **select):
    pci.write(0, address(slot, reg, **select).to_bytes(4, "little"))
    pci.write(4 + reg % 4, value.to_bytes(size, "little"))


def test_host_bridge_is_an_i440fx_at_00_00_0(pci):
    assert cfg_read(pci, 0, ID) == 0x1237_8086
    assert cfg_read(pci, 0, CLASS) >> 8 == 0x060000
    assert cfg_read(pci, 0, HEADER) >> 16 & 0x7F == 0  # type-0 header


def test_word_and_byte_reads_select_within_the_dword(pci):
    assert cfg_read(pci, 0, ID, 2) == 0x8086
    assert cfg_read(pci, 0, ID + 2, 2) == 0x1237
    assert cfg_read(pci, 0, CLASS + 3, 1) == 0x06
    assert cfg_read(pci, SLOT, INTR + 1, 1) == 1


@pytest.mark.parametrize("size", [1, 2, 4])
def test_empty_slot_reads_all_ones(pci, size):
    assert cfg_read(pci, 7, ID, size) == (1 << 8 * size) - 1


def test_config_data_reads_all_ones_without_the_enable_bit(pci):
    assert cfg_read(pci, 0, ID, enable=False) == 0xFFFF_FFFF
    cfg_write(pci, SLOT, INTR, 0x0A, 1, enable=False)
    assert cfg_read(pci, SLOT, INTR, 1) == 0


@pytest.mark.parametrize("select", [{"bus": 1}, {"bus": 255}, {"function": 1}, {"function": 7}])
def test_other_buses_and_functions_read_all_ones(pci, select):
    assert cfg_read(pci, 0, ID, **select) == 0xFFFF_FFFF
    assert cfg_read(pci, SLOT, ID, **select) == 0xFFFF_FFFF


def test_bars_start_unassigned_and_unimplemented_ones_read_zero(pci):
    assert cfg_read(pci, SLOT, BAR0) == 0
    assert cfg_read(pci, SLOT, BAR1) == 0x1  # I/O space indicator
    cfg_write(pci, SLOT, BAR2, 0xFFFF_FFFF)
    assert cfg_read(pci, SLOT, BAR2) == 0


@pytest.mark.parametrize("bar, mask", [(BAR0, 0xFFFF_F000), (BAR1, 0xFFFF_FFE0 | 0x1)])
def test_bar_sizing_reads_back_the_size_mask_and_type_bit(pci, pio, mmio, bar, mask):
    cfg_write(pci, SLOT, bar, 0xFFFF_FFFF)
    assert cfg_read(pci, SLOT, bar) == mask
    assert pio.find(mask & ~0xF) == mmio.find(mask & ~0xF) == (None, None)  # decoding is off
    cfg_write(pci, SLOT, bar, 0)  # restored, as the guest does
    assert cfg_read(pci, SLOT, bar) == mask & 0x1


def test_memory_bar_is_mapped_only_while_memory_decoding_is_on(pci, pio, mmio, card):
    cfg_write(pci, SLOT, BAR0, 0xE000_1000)
    assert mmio.find(0xE000_1000) == (None, None)
    cfg_write(pci, SLOT, COMMAND, CMD_MEM)
    assert mmio.find(0xE000_1000) == (card.mem, 0)
    assert mmio.find(0xE000_1FFF) == (card.mem, 0xFFF)
    assert mmio.find(0xE000_2000) == (None, None)
    assert pio.find(0xC000) == (None, None)  # BAR 1 is I/O: still off
    cfg_write(pci, SLOT, BAR0, 0xE000_4000)  # moving it while decoding moves it
    assert mmio.find(0xE000_1000) == (None, None)
    assert mmio.find(0xE000_4000) == (card.mem, 0)
    cfg_write(pci, SLOT, COMMAND, 0)
    assert mmio.find(0xE000_4000) == (None, None)


def test_io_bar_is_mapped_only_while_io_decoding_is_on(pci, pio, mmio, card):
    cfg_write(pci, SLOT, BAR1, 0xC040)
    cfg_write(pci, SLOT, COMMAND, CMD_IO, 1)  # a byte write to COMMAND
    assert pio.find(0xC040) == (card.io, 0) and pio.find(0xC05F) == (card.io, 0x1F)
    assert mmio.find(0xC040) == (None, None)
    cfg_write(pci, SLOT, BAR1, 0xC080)
    assert pio.find(0xC040) == (None, None) and pio.find(0xC080) == (card.io, 0)
    cfg_write(pci, SLOT, COMMAND, CMD_MEM)
    assert pio.find(0xC080) == (None, None)


def test_status_is_write_one_to_clear(pci):
    all_bits = CMD_IO | CMD_MEM | CMD_MASTER
    cfg_write(pci, SLOT, COMMAND, all_bits)  # a zero status half clears nothing
    assert cfg_read(pci, SLOT, STATUS, 2) == ST_DETECTED_PARITY | ST_MASTER_PARITY
    cfg_write(pci, SLOT, STATUS, ST_DETECTED_PARITY, 2)
    assert cfg_read(pci, SLOT, STATUS, 2) == ST_MASTER_PARITY
    assert cfg_read(pci, SLOT, COMMAND, 2) == all_bits


def test_status_capabilities_bit_survives_writing_ones(pci, card):
    card.config[STATUS] |= ST_CAP_LIST
    cfg_write(pci, SLOT, STATUS, 0xFFFF, 2)  # "clear every error bit"
    assert cfg_read(pci, SLOT, STATUS, 2) == ST_CAP_LIST


def test_interrupt_line_is_writable_and_interrupt_pin_read_only(pci):
    cfg_write(pci, SLOT, INTR, 0xFFFF_FF0B)
    assert cfg_read(pci, SLOT, INTR) == 0x0000_010B
    cfg_write(pci, SLOT, INTR + 1, 4, 1)
    assert cfg_read(pci, SLOT, INTR + 1, 1) == 1


def test_ids_and_class_are_read_only(pci):
    cfg_write(pci, SLOT, ID, 0xFFFF_FFFF)
    cfg_write(pci, SLOT, CLASS, 0)
    assert cfg_read(pci, SLOT, ID) == 0x1000_1AF4
    assert cfg_read(pci, SLOT, CLASS) == 0x0200_0001


def test_small_io_bar_is_mapped_at_its_own_address(pio, mmio):
    pci, port = PciBus(pio, mmio), Region("port")
    pci.add(SLOT, Card(bars=[Bar(4, io=True, device=port)]))
    cfg_write(pci, SLOT, BAR0, 0xC004)
    cfg_write(pci, SLOT, COMMAND, CMD_IO)
    assert cfg_read(pci, SLOT, BAR0) == 0xC005
    assert pio.find(0xC004) == (port, 0)


@pytest.mark.parametrize("offset, reg", [(2, 0), (6, 0xFC)])  # inl(0xCFA), inl(0xCFE)
def test_every_read_returns_the_access_size(pci, offset, reg):
    pci.write(0, address(SLOT, reg).to_bytes(4, "little"))
    assert len(pci.read(offset, 4)) == 4


def test_overlapping_bar_decodes_nothing_and_breaks_nothing(pci, mmio, card):
    other = Card()
    pci.add(SLOT + 1, other)
    for slot in (SLOT, SLOT + 1):
        cfg_write(pci, slot, BAR0, 0xE000_0000)  # both at one address: the guest's mistake
        cfg_write(pci, slot, COMMAND, CMD_MEM)
    assert mmio.find(0xE000_0000)[0] is card.mem
    assert len(pci.conflicts) == 1
    cfg_write(pci, SLOT + 1, BAR0, 0xE000_1000)  # moved somewhere free, it decodes again
    assert mmio.find(0xE000_1000)[0] is other.mem


def test_a_system_reset_unmaps_and_clears_every_bar(pci, pio, mmio, card):
    cfg_write(pci, SLOT, BAR0, 0xE000_1000)
    cfg_write(pci, SLOT, BAR1, 0xC040)
    cfg_write(pci, SLOT, COMMAND, CMD_IO | CMD_MEM | CMD_MASTER)
    cfg_write(pci, SLOT, INTR, 11, 1)
    powered_on = []
    card.power_on_reset = lambda: powered_on.append(True)
    pci.system_reset()
    assert mmio.find(0xE000_1000) == (None, None) and pio.find(0xC040) == (None, None)
    assert cfg_read(pci, SLOT, COMMAND, 2) == 0
    assert (cfg_read(pci, SLOT, BAR0), cfg_read(pci, SLOT, BAR1)) == (0, 0x1)  # io flag
    assert cfg_read(pci, SLOT, STATUS, 2) == ST_CAP_LIST * bool(card.config[0x34])
    assert cfg_read(pci, SLOT, INTR, 1) == 11  # what was wired stays
    assert powered_on == [True]
