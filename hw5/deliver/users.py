"""Authors' names: who is on the report's first page and in the hand-in's file names (1 to 3 of them)."""
from __future__ import annotations

import argparse
import re

USER = re.compile(r"[A-Za-z0-9_-]+")
MAX_USERS = 3


def user_name(text: str) -> str:
    """argparse type of --user (hw5 handin, hw5 report): a name of letters, digits, '_' and '-'."""
    if not USER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a name of letters, digits, '_' and '-', got {text!r}")
    return text


def check_users(users) -> list[str]:
    """The names as a list: 1 to 3 distinct names of letters, digits, '_' and '-'."""
    if not isinstance(users, (list, tuple)):
        raise TypeError(f"users must be a list of names, got {users!r}")
    if not 1 <= len(users) <= MAX_USERS:
        raise ValueError(f"--user: give 1 to {MAX_USERS} names, got {len(users)}")
    for name in users:
        if not isinstance(name, str) or not USER.fullmatch(name):
            raise ValueError(f"--user {name!r}: a name may hold only letters, digits, '_' and '-'")
    if len(set(users)) != len(users):
        raise ValueError(f"--user: the names must differ, got {list(users)}")
    return list(users)


def stem(users) -> str:
    """homework5_<name1>[_<name2>[_<name3>]]"""
    return "homework5_" + "_".join(check_users(users))
