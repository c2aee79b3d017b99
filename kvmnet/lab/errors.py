"""What can go wrong in the lab, each said so a person can act on it."""


class LabInputError(ValueError):
    """The kernel (or package) given cannot be used; the message names it and why.

    Raised before anything boots."""


class LabFailed(RuntimeError):
    """The lab kernel panicked, hung or never ran the job; `console` is its serial log."""

    def __init__(self, message, console=""):
        tail = "\n".join(console.splitlines()[-40:])
        super().__init__(f"{message}\n--- the lab console's last lines ---\n{tail}"
                         if tail else message)
        self.console = console
