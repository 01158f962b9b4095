"""Where messages come from and go to. Every transport has the same small surface, so the reply
policy and the generator never know whether they talk to a terminal, a recorded log or WeChat.

    poll(now)  -> events that arrived since the last poll (runtime.policy Message / Kill)
    send(chat, text, now) -> True when the message was delivered (the policy counts only those)
    finished(now) -> True when there is nothing more to do (replay at its end; console after /quit)
    close()
"""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    name: str

    def poll(self, now: float) -> list: ...

    def send(self, chat: str, text: str, now: float) -> bool: ...

    def finished(self, now: float) -> bool: ...

    def close(self) -> None: ...
