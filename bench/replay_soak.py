"""Benchmark: a simulated 24-hour day of family chat through the real reply loop and chat model.

    OMP_NUM_THREADS=2 python bench/replay_soak.py [--bundle data/dist/demo] [--hours 24] [--seed 7]

A synthetic day (seeded): a whitelisted family group and a non-whitelisted group, bursts of
messages in the daytime and evenings, silence at night, the owner stopping the persona for an hour
and resuming it. It runs through `runtime.chat.run_loop` with the bundle's
policy and generator on a simulated clock (generation takes real time, the clock does not wait).
Reported: promises broken (runtime.policy.violations: must be 0), process memory every simulated
hour (must stay flat), decisions per second of wall time, and generation time per reply compared
with the policy's own cost per decision (the baseline, measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runtime.bundle import open_bundle  # noqa: E402
from runtime.chat import DecisionLog, SimClock, run_loop  # noqa: E402
from runtime.generator import Generator  # noqa: E402
from runtime.policy import PolicyConfig, ReplyPolicy, violations  # noqa: E402
from runtime.transports.replay import ReplayTransport  # noqa: E402

DAY0 = 1_767_196_800.0  # 2026-01-01 00:00 in China (UTC+8)
FAMILY, OTHERS = "family", "neighbours"
LINES = ["外婆 吃饭了吗", "今天好冷", "Mochi 又胖了 😂", "周末回来吃饭吗", "我到家了", "哈哈哈",
         "记得吃药哦", "grandma look at this", "明天下雨 带伞", "晚安"]  # fmt: skip
SENDERS = ["小雨", "建国", "阿姨", "owner"]


def synthetic_day(hours: float, seed: int) -> list[dict]:
    """Bursts of 1-6 messages, more often in the day and evening, none between 1 and 7 am."""
    rng, rows, t = random.Random(seed), [], DAY0
    end = DAY0 + hours * 3600
    while t < end:
        hour = (t - DAY0) / 3600 % 24
        busy = 0.2 if 1 <= hour < 7 else (1.5 if 18 <= hour < 22 else 1.0)
        t += rng.expovariate(busy / 900)  # a burst every ~15 min at normal activity
        if 1 <= (t - DAY0) / 3600 % 24 < 7 or t >= end:
            continue
        chat = FAMILY if rng.random() < 0.8 else OTHERS
        for _ in range(rng.randint(1, 6)):
            rows.append({"ts": t, "chat": chat, "sender": rng.choice(SENDERS[:3]), "text": rng.choice(LINES)})
            t += rng.uniform(0.5, 4)
    # the owner stops the persona at 15:00 and resumes at 16:00
    for hour, command in ((15, "/still stop"), (16, "/still resume")):
        rows.append({"ts": DAY0 + hour * 3600, "chat": FAMILY, "sender": "owner", "text": command})
    return sorted(rows, key=lambda r: r["ts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "data/dist/demo")
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--seed", type=int, default=7)
    a = parser.parse_args()

    bundle = open_bundle(a.bundle)
    settings = {**bundle.policy, "whitelist": [FAMILY], "owner_ids": ["owner"]}
    config = PolicyConfig.from_dict(settings)
    rows = synthetic_day(a.hours, a.seed)
    generator = Generator(bundle)
    calls, gen_seconds = [0], [0.0]
    real_reply = generator.reply

    def timed_reply(context, seed):
        start = time.perf_counter()
        try:
            return real_reply(context, seed)
        finally:
            calls[0] += 1
            gen_seconds[0] += time.perf_counter() - start

    generator.reply = timed_reply
    policy = ReplyPolicy(config, random.Random(a.seed))
    transport, clock = ReplayTransport(rows), SimClock(rows[0]["ts"])
    decisions = DecisionLog(None)
    process = psutil.Process(os.getpid())

    model = bundle.components["chat_model"]["base_model"]
    print(f"{len(rows)} messages over {a.hours:g} simulated hours; model {model}")
    memory, start, hour, warm = [], time.perf_counter(), 0, None  # warm: first hour after a reply
    while not transport.finished(clock.now()) or policy.busy():
        hour += 1
        run_loop(policy, generator, transport, clock, decisions, until=DAY0 + hour * 3600)
        memory.append(process.memory_info().rss / 2**20)
        warm = hour - 1 if warm is None and transport.sent else warm
        if hour % 4 == 0:
            print(f"  hour {hour:2d}: {len(transport.sent):3d} sent, RSS {memory[-1]:.0f} MB", flush=True)
    wall = time.perf_counter() - start

    timeline = [("msg", r["ts"], r["chat"], r["sender"], r["text"]) for r in rows]
    timeline += [("sent", s["ts"], s["chat"], "", s["text"]) for s in transport.sent]
    timeline.sort(key=lambda e: (e[1], e[0] == "sent"))
    broken = violations(timeline, config)
    n_decisions = sum(decisions.counts.values())
    policy_seconds = wall - gen_seconds[0]
    print(f"\npromises broken: {len(broken)}" + "".join(f"\n  {b}" for b in broken[:10]))
    print(f"sent {len(transport.sent)} messages from {calls[0]} generations; decisions: {decisions.counts}")
    # The first reply allocates the generation buffers; flat means no growth after that.
    growth = memory[-1] - memory[warm or 0]
    print(f"memory (RSS, MB) per simulated hour: first {memory[0]:.0f}, last {memory[-1]:.0f}, "
          f"max {max(memory):.0f}")  # fmt: skip
    print(f"growth from hour {(warm or 0) + 1} (first reply) to the end: {growth:+.0f} MB")
    per_reply, per_decision = gen_seconds[0] / max(calls[0], 1), policy_seconds / max(n_decisions, 1)
    print(f"wall {wall:.1f} s: {n_decisions / wall:.1f} decisions/s overall")
    print(f"generation {per_reply:.2f} s/reply vs policy + loop {per_decision * 1e3:.2f} ms/decision "
          f"({per_reply / per_decision:.0f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
