"""Console: chat with the persona in a terminal, typing as one or several people.

    小雨: 外婆 吃饭了吗         a message from 小雨 (the name before ": " is the speaker)
    吃了吗                     a message from the last speaker
    /kill                      stop the persona (kill switch), /quit to leave

The console chat is always allowed (you opened it yourself); replies print as `persona> …`.
"""

from __future__ import annotations

import queue
import sys
import threading

from runtime.policy import Kill, Message

CHAT = "console"


def parse_line(line: str, speaker: str) -> tuple[str, str]:
    """(speaker, text) of a typed line: "Name: text" switches speaker; otherwise the last one."""
    for sep in (": ", "："):
        name, found, text = line.partition(sep)
        if found and 0 < len(name) <= 20 and text.strip():
            return name.strip(), text.strip()
    return speaker, line.strip()


class ConsoleTransport:
    name = "console"

    def __init__(self, persona_label: str = "persona", stdin=None, stdout=None, speaker: str = "me"):
        self.stdin, self.stdout = stdin or sys.stdin, stdout or sys.stdout
        self.persona_label = persona_label
        self.speaker = speaker
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.done = False
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.stdin:
                self.lines.put(line.rstrip("\n"))
        except (UnicodeDecodeError, OSError, ValueError) as e:  # a stream that cannot be read on
            print(f"console: input stopped ({e})", file=sys.stderr)
        finally:
            self.lines.put(None)  # end of input, always: the chat loop must not wait forever

    def poll(self, now: float) -> list:
        events = []
        while not self.lines.empty():
            line = self.lines.get()
            if line is None:  # end of input (a pipe): pending replies still go out
                self.done = True
            elif line.strip() == "/quit":  # leave now
                self.done = True
                events.append(Kill(now, "console_quit"))
            elif line.strip() == "/kill":
                events.append(Kill(now, "console"))
            elif line.strip():
                self.speaker, text = parse_line(line, self.speaker)
                self.count += 1
                events.append(Message(CHAT, self.speaker, text, now, False, f"c{self.count}"))
        return events

    def send(self, chat: str, text: str, now: float) -> bool:
        print(f"{self.persona_label}> {text}", file=self.stdout, flush=True)
        return True

    def finished(self, now: float) -> bool:
        return self.done

    def close(self) -> None:
        pass
