"""Links in a scratch namespace through rtnetlink (pyroute2): create, read back, remove."""

from dataclasses import dataclass

from pyroute2 import NetlinkError

# The kinds of link a KVM host's network paths are built from.
KINDS = ("bridge", "veth", "macvlan", "macvtap", "tun")


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    kind: str | None
    mode: str | None = None  # macvlan/macvtap mode


def lookup(ipr, name):
    """The link called name, read back from the kernel, or None."""
    found = ipr.link("get", ifname=name) if ipr.link_lookup(ifname=name) else []
    if not found:
        return None
    msg = found[0]
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    data = info.get("IFLA_INFO_DATA") if info else None
    mode = None
    if data and kind in ("macvlan", "macvtap"):
        mode = data.get(f"IFLA_{kind.upper()}_MODE")
    return Link(name, msg["index"], kind, mode)


def remove(ipr, name):
    """Delete link `name`; already gone is fine."""
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as e:
        if e.code != 19:  # ENODEV
            raise


@dataclass(frozen=True)
class Sample:
    """The outcome of creating one link of a kind: the link read back, or the refusal."""
    kind: str
    link: Link | None
    error: str | None


def create_sample(ipr, kind, name):
    """Create a link of `kind` called name, with a veth lower device where it needs one.

    Returns a Sample; a refusal by the kernel is reported, not raised.
    """
    args = {"ifname": name, "kind": kind}
    if kind == "veth":
        args["peer"] = {"ifname": f"{name}p"}
    elif kind in ("macvlan", "macvtap"):
        lower = f"{name}l"
        ipr.link("add", ifname=lower, kind="veth", peer={"ifname": f"{name}p"})
        args["link"] = ipr.link_lookup(ifname=lower)[0]
        args[f"{kind}_mode"] = "bridge"
    try:
        ipr.link("add", **args)
    except NetlinkError as e:
        return Sample(kind, None, f"the kernel refused a {kind} link: {e.args[-1]} (errno {e.code})")
    return Sample(kind, lookup(ipr, name), None)
