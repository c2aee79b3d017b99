"""The evidence tables attached to reports."""

from fixtures.evidence import format_table


def test_table_is_aligned_under_its_header():
    text = format_table([("KVM_CAP_IRQFD", 1), ("KVM_CAP_IOMMU", 0)], header=("cap", "value"))
    assert text.splitlines() == [
        "cap            value",
        "-------------  -----",
        "KVM_CAP_IRQFD  1",
        "KVM_CAP_IOMMU  0",
    ]


def test_empty_table_says_so():
    assert format_table([]) == "(empty)\n"
