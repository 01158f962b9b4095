"""`python -m runtime chat`: the reply loop — transport events → policy → generator → transport.

One loop for every transport. The policy (runtime/policy.py) decides when the persona may speak; the
generator writes what it says; the policy's final `approve` runs right before each send, so a kill
switch, a new message or a rate limit that arrives while the model is generating still wins.
Decisions are logged as JSON lines without message contents (`--debug` adds them).

Kill switch, three ways, each effective within one tick (0.25 s): create the file given by
`--kill-file` (default: STOP beside the bundle), type /kill in the console, or the owner sends the
stop command in a chat.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

from runtime.bundle import BundleError, open_bundle
from runtime.engines import ENGINES
from runtime.policy import Kill, PolicyConfig, ReplyPolicy, Tick

log = logging.getLogger("still.runtime")
TICK_S = 0.25


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SimClock:
    """Simulated time for replays: sleeping advances it, nothing waits."""

    def __init__(self, start: float):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class DecisionLog:
    """JSON lines of every decision and send; message text only with debug on."""

    def __init__(self, stream=None, debug: bool = False):
        self.stream, self.debug = stream, debug
        self.counts: dict[str, int] = {}

    def write(self, record: dict, text: str | None = None) -> None:
        key = f"{record.get('action')}:{record.get('reason', '')}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.stream is None:
            return
        if self.debug and text is not None:
            record = {**record, "text": text}
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")


def pump(policy, transport, decisions: DecisionLog, kill_file: Path | None, now: float) -> None:
    """Feed everything that happened since the last look (messages, kill file) to the policy."""
    events = transport.poll(now)
    if kill_file is not None and kill_file.exists():
        events.append(Kill(now, "file"))
    for event in [*events, Tick(now)]:
        for d in policy.observe(event):
            decisions.write(asdict(d))


def run_loop(policy, generator, transport, clock, decisions: DecisionLog, kill_file: Path | None = None,
             tick_s: float = TICK_S, seed: int = 0, until: float | None = None) -> int:  # fmt: skip
    """Drive the conversation until the transport has nothing more and no reply is pending (or until
    `until`); returns the number of messages sent."""
    sent = 0
    while (not transport.finished(clock.now()) or policy.busy()) and (until is None or clock.now() < until):
        now = clock.now()
        pump(policy, transport, decisions, kill_file, now)
        requests = policy.due(now)
        for d in policy.take_decisions():
            decisions.write(asdict(d))
        for request in requests:
            reply = generator.reply(request.context, seed=seed + sent)
            text = (
                f"{policy.config.disclosure_text} {reply.text}"
                if reply.text and request.disclose
                else reply.text
            )
            when = clock.now()
            # Generating takes seconds on a CPU: look again, so a kill or a new message wins.
            pump(policy, transport, decisions, kill_file, when)
            ok, reason = policy.approve(request, text, when)
            record = {
                "ts": when,
                "chat": request.chat,
                "kind": request.kind,
                "request_id": request.request_id,
                "memory": list(reply.memory_ids),  # which snippets the reply was grounded on
            }
            if ok and transport.send(request.chat, text, when):
                policy.sent(request, text, when)
                sent += 1
                decisions.write({**record, "action": "sent", "reason": request.kind}, text)
            else:
                why = reason if not ok else "send_failed"
                decisions.write({**record, "action": "dropped", "reason": why}, reply.raw)
        clock.sleep(tick_s)
    return sent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle folder (data/dist/<name>)")
    parser.add_argument("--transport", choices=("console", "replay", "wechat"), default="console")
    allow = "a chat the persona may speak in (repeat); the console is always allowed"
    parser.add_argument("--allow-chat", action="append", default=[], metavar="CHAT", help=allow)
    parser.add_argument("--owner", action="append", default=[], help="sender name allowed to stop/resume")
    parser.add_argument("--log", type=Path, help="replay: the recorded chat (JSON lines)")
    parser.add_argument("--out", type=Path, help="replay: where to write what would have been sent")
    parser.add_argument("--decisions", type=Path, help="decision log (JSON lines); default stderr")
    parser.add_argument("--kill-file", type=Path, help="sending stops while this file exists")
    parser.add_argument(
        "--no-disclosure", action="store_true", help="turn the AI disclosure off (not advised)"
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="reply without the bundle's retrieval memory"
    )
    parser.add_argument(
        "--memory-k", type=int, metavar="K", help="memory snippets per reply (bundle default)"
    )
    parser.add_argument(
        "--persona-name",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the persona is called by in chats (repeatable; the bundle's hashed names apply too)",
    )
    parser.add_argument("--load-in-4bit", action="store_true", help="4-bit weights on CUDA (bitsandbytes)")
    parser.add_argument(
        "--engine", choices=ENGINES, default="auto",
        help="auto: the bundle's quantized GGUF through llama.cpp when both are there, else transformers",
    )  # fmt: skip
    parser.add_argument(
        "--gpu-layers", type=int, default=None, metavar="N",
        help="llama.cpp: layers on the GPU (-1 all, 0 none; default: the bundle's)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--debug", action="store_true", help="log message texts too")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        bundle = open_bundle(args.bundle)
    except BundleError as e:
        print(e, file=sys.stderr)
        return 1
    from runtime.generator import Generator

    settings = bundle.policy
    settings["whitelist"] = [*args.allow_chat, *(["console"] if args.transport == "console" else [])]
    settings["owner_ids"] = args.owner
    if args.no_disclosure:
        settings["disclosure"] = False
    if args.transport == "replay":
        from runtime.transports.replay import ReplayTransport, read_log

        if not args.log:
            print("--transport replay needs --log FILE", file=sys.stderr)
            return 2
        rows = read_log(args.log)
        settings["whitelist"] += [] if args.allow_chat else sorted({r["chat"] for r in rows if "chat" in r})
        transport, clock = ReplayTransport(rows), SimClock(rows[0]["ts"] if rows else 0.0)
    elif args.transport == "wechat":
        from runtime.transports.wechat import WeChatTransport, WeChatUnavailable

        try:
            transport, clock = WeChatTransport(chats=args.allow_chat), RealClock()
        except (ValueError, WeChatUnavailable) as e:
            print(f"wechat: {e}", file=sys.stderr)
            return 2
    else:
        from runtime.transports.console import ConsoleTransport

        transport, clock = ConsoleTransport(), RealClock()
        print(
            "Chat with the persona. Type `Name: message` to speak as Name, /kill to stop it, /quit to leave."
        )
        print(f"(An AI persona from bundle '{bundle.manifest['name']}', built with consent.", end=" ")
        print("It is not the person.)")

    policy = ReplyPolicy(PolicyConfig.from_dict(settings), random.Random(args.seed))
    print("loading the chat model…", file=sys.stderr)
    memory = (
        {"enabled": False} if args.no_memory else ({"k": args.memory_k} if args.memory_k is not None else {})
    )
    try:
        generator = Generator(
            bundle, load_in_4bit=args.load_in_4bit, memory=memory, persona_names=args.persona_name,
            engine=args.engine, n_gpu_layers=args.gpu_layers,
        )  # fmt: skip
    except (BundleError, ImportError) as e:
        print(e, file=sys.stderr)
        return 1
    print(f"chat model: {generator.engine.name}", file=sys.stderr)
    kill_file = args.kill_file or Path(args.bundle).parent / "STOP"
    stream = args.decisions.open("a", encoding="utf-8") if args.decisions else sys.stderr
    decisions = DecisionLog(
        stream if (args.decisions or args.debug or args.transport == "replay") else None, args.debug
    )
    try:
        sent = run_loop(policy, generator, transport, clock, decisions, kill_file, seed=args.seed)
    except KeyboardInterrupt:
        sent = None
    finally:
        transport.close()
    if args.transport == "replay" and args.out:
        args.out.write_text(
            "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in transport.sent), "utf-8"
        )
    print(f"sent {sent} messages; decisions: {decisions.counts}", file=sys.stderr)
    return 0
