"""The kernel lab's inputs, before anything boots: the initramfs archive, the module load
order from modules.dep, and every kind of kernel it must refuse with a clear error."""

import os

import pytest

from kvmnet.lab import Lab, LabInputError
from kvmnet.lab.cpio import Cpio
from kvmnet.lab.kernel import LabKernel, from_tree, resolve
from kvmnet.lab.modules import load_order


def read_newc(path):
    """[(name, mode, data)] of a newc archive, up to its trailer."""
    raw, entries, at = path.read_bytes(), [], 0
    while True:
        assert raw[at:at + 6] == b"070701", f"bad magic at {at}"
        fields = [int(raw[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_at = at + 110
        name = raw[name_at:name_at + namesize - 1].decode()
        data_at = name_at + namesize + (-(110 + namesize) % 4)
        if name == "TRAILER!!!":
            return entries
        entries.append((name, mode, raw[data_at:data_at + size]))
        at = data_at + size + (-size % 4)


def test_initramfs_archive_holds_directories_before_their_files(tmp_path):
    archive = Cpio()
    archive.file("modules/001-tun.ko", b"\x7fELF...", mode=0o644)
    archive.file("init", b"#!/bin/sh\n", mode=0o755)
    archive.symlink("bin/sh", "busybox")
    archive.write(tmp_path / "initrd")
    entries = read_newc(tmp_path / "initrd")
    assert [(n, oct(m)) for n, m, _ in entries] == [
        ("modules", "0o40755"), ("modules/001-tun.ko", "0o100644"), ("init", "0o100755"),
        ("bin", "0o40755"), ("bin/sh", "0o120777")]
    assert entries[1][2] == b"\x7fELF..." and entries[4][2] == b"busybox"
    assert (tmp_path / "initrd").stat().st_size % 512 == 0


def fake_kernel(root, release="6.1.0-99-amd64", dep="", builtin="", config=None,
                image=b"\0" * 0x202 + b"HdrS" + b"\0" * 64):
    (root / "boot").mkdir(parents=True)
    (root / "boot" / f"vmlinuz-{release}").write_bytes(image)
    modules = root / "lib/modules" / release
    modules.mkdir(parents=True)
    (modules / "modules.dep").write_text(dep)
    (modules / "modules.builtin").write_text(builtin)
    if config is not None:
        (root / "boot" / f"config-{release}").write_text(config)
    return root


DEP = """kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
kernel/drivers/vhost/vhost_net.ko: kernel/drivers/net/tun.ko kernel/drivers/vhost/vhost.ko kernel/drivers/net/tap.ko
kernel/drivers/vhost/vhost.ko:
kernel/drivers/net/tun.ko:
kernel/drivers/net/tap.ko:
kernel/drivers/net/macvtap.ko: kernel/drivers/net/macvlan.ko kernel/drivers/net/tap.ko
kernel/drivers/net/macvlan.ko:
"""


def test_modules_load_after_what_they_depend_on(tmp_path):
    kernel = from_tree(fake_kernel(tmp_path, dep=DEP, builtin="kernel/drivers/net/veth.ko\n"),
                       "test")
    plan = load_order(kernel, ("bridge", "vhost_net", "macvtap", "veth", "kvm_amd"))
    names = [os.path.basename(f) for f in plan.files]
    assert names == ["llc.ko", "stp.ko", "bridge.ko", "tun.ko", "vhost.ko", "tap.ko",
                     "vhost_net.ko", "macvlan.ko", "macvtap.ko"]
    assert plan.missing == ("kvm_amd",), "veth is built in: only kvm_amd is missing"


def test_a_package_the_archive_does_not_have_is_refused_by_name(tmp_path):
    with pytest.raises(LabInputError, match="'linux-image-0.0.0-kvmnet-none': the archive has no"):
        resolve("linux-image-0.0.0-kvmnet-none", tmp_path)


def test_an_unreadable_deb_is_refused(tmp_path):
    bad = tmp_path / "linux-image-broken.deb"
    bad.write_bytes(b"not an ar archive")
    with pytest.raises(LabInputError, match="not a readable Debian package"):
        resolve(str(bad), tmp_path / "cache")
    assert not list((tmp_path / "cache" / "trees").iterdir()), "a half-unpacked tree was left"


@pytest.mark.parametrize("spec, says", [("no/such/kernel", "no such file or directory"),
                                        ("Not A Package!", "is not a Debian package name")])
def test_what_is_neither_file_directory_nor_package_is_refused(tmp_path, spec, says):
    with pytest.raises(LabInputError, match=says):
        resolve(spec, tmp_path)


def test_a_directory_without_a_kernel_is_refused(tmp_path):
    (tmp_path / "boot").mkdir()
    with pytest.raises(LabInputError, match="no kernel here"):
        resolve(str(tmp_path), tmp_path / "cache")


def test_a_file_that_is_not_a_bzimage_is_refused(tmp_path):
    fake_kernel(tmp_path, image=b"\x7fELF" + bytes(1024))
    with pytest.raises(LabInputError, match="not a bzImage"):
        resolve(str(tmp_path), tmp_path / "cache")


def test_a_kernel_without_its_modules_is_refused(tmp_path):
    fake_kernel(tmp_path)
    os.rename(tmp_path / "lib", tmp_path / "elsewhere")
    with pytest.raises(LabInputError, match="has no modules"):
        resolve(str(tmp_path), tmp_path / "cache")


def test_a_kernel_that_cannot_share_the_hosts_files_is_refused(tmp_path):
    fake_kernel(tmp_path, dep=DEP)  # no 9p, no overlay, no virtio_pci
    with pytest.raises(LabInputError, match="CONFIG_9P_FS") as refused:
        Lab(str(tmp_path), cache=tmp_path / "cache")
    assert "CONFIG_OVERLAY_FS" in str(refused.value)


def test_kernel_options_come_from_the_kernels_own_config(tmp_path):
    config = "CONFIG_VHOST_NET=m\n# CONFIG_KVM_AMD is not set\nCONFIG_TUN=y\n"
    kernel = from_tree(fake_kernel(tmp_path, config=config), "test")
    assert [kernel.option(o) for o in ("CONFIG_VHOST_NET", "CONFIG_KVM_AMD", "CONFIG_TUN")] == [
        "m", "n", "y"]
    assert LabKernel("r", kernel.vmlinuz, kernel.modules, None, "x").option("CONFIG_TUN") is None


def test_a_kernel_the_lab_cannot_use_is_a_usage_error_before_anything_boots(suite):
    result = suite.run(suite.path("conformance/test_kvm_api.py"),
                       "--kvmnet-kernel=linux-image-0.0.0-kvmnet-none")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert ("--kvmnet-kernel=linux-image-0.0.0-kvmnet-none: Debian package "
            "'linux-image-0.0.0-kvmnet-none': the archive has no such package") in result.stderr.str()
    assert "kvmnet lab:" not in result.stdout.str(), "a lab run started all the same"


def test_help_with_a_kernel_given_boots_nothing(suite):
    result = suite.run(suite.path("conformance/test_kvm_api.py"), "--help",
                       "--kvmnet-kernel=linux-image-0.0.0-kvmnet-none", timeout=60)
    assert result.ret == 0 and "--kvmnet-kernel" in result.stdout.str(), result.stdout.str()
    assert "kvmnet lab:" not in result.stdout.str()


def test_inside_the_lab_its_kernel_is_the_directory_it_was_given(tmp_path, monkeypatch):
    """A lab booted from a directory (or a .deb) names its tree to the run inside, so the
    Linux guest boots that very kernel and its modules, not a package of the same release."""
    from kvmnet.lab import kernel_inside, lab
    from kvmnet.lab.kernel import tree_of
    found = from_tree(fake_kernel(tmp_path), "test")
    assert tree_of(found) == tmp_path
    monkeypatch.delenv(lab.LAB_ENV, raising=False)
    assert kernel_inside() is None  # outside a lab there is none
    monkeypatch.setenv(lab.LAB_ENV, found.release)
    monkeypatch.setenv(lab.LAB_TREE_ENV, str(tree_of(found)))
    assert kernel_inside().vmlinuz == found.vmlinuz
