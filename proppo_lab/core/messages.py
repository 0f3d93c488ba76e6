"""Typed messages between nodes, with explicit merge rules.

A message has a *kind* ("cost", "grad", "weight", ...), a content and a merge
rule saying what happens when a node receives several of the same kind: they
are summed (costs-to-go, gradients), listed (diagnostics), or the last one
wins. Messages address nodes by identity (the ``Node`` object), never by
position on the tape.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .node import Node


class Merge(str, Enum):
    SUM = "sum"
    LIST = "list"
    REPLACE = "replace"


@dataclass(frozen=True)
class Message:
    kind: str
    content: Any
    merge: Merge = Merge.SUM
    sender: Node | None = None


class Inbox:
    """What a node has received, merged per kind."""

    __slots__ = ("_items", "_merges")

    def __init__(self):
        self._items: dict[str, Any] = {}
        self._merges: dict[str, Merge] = {}

    def put(self, message: Message) -> None:
        kind, merge = message.kind, message.merge
        known = self._merges.setdefault(kind, merge)
        if known is not merge:
            raise ValueError(
                f"message kind '{kind}' arrived with merge rule {merge.value} "
                f"after {known.value}; one kind has one rule"
            )
        if kind not in self._items:
            self._items[kind] = [message.content] if merge is Merge.LIST else message.content
        elif merge is Merge.SUM:
            self._items[kind] = self._items[kind] + message.content
        elif merge is Merge.LIST:
            self._items[kind].append(message.content)
        else:
            self._items[kind] = message.content

    def get(self, kind: str, default: Any = None) -> Any:
        return self._items.get(kind, default)

    def __contains__(self, kind: str) -> bool:
        return kind in self._items

    def items(self):
        return self._items.items()
