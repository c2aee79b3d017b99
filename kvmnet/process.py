"""Processes this suite starts, and telling whether the one that started a resource lives."""

import os


def alive(pid):
    """Does process pid exist (whoever owns it)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
