"""Break each promise the README makes with a one-line change, and check that a test notices. Run by hand:

    .venv/bin/python bench/mutations.py

Each mutation is applied to the working tree, the named tests run, and the file is restored whatever happens.
A mutation that no test notices is a promise without a guard: the run exits 1 and names it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (promise, file, the line as it is, the broken line, the tests that must notice)
MUTATIONS = [
    (
        "the line is chosen by the number dialled",
        "ivr/flows/catalog.py",
        'name = self.by_number.get(normalise(dialled) or "", self.default)',
        "name = self.default",
        "tests/test_calls.py",
    ),
    (
        "the fallback number rings only when nobody is on duty",
        "ivr/call/connecting.py",
        "if fallback and FALLBACK not in state.tried and not _anyone_on_duty(world, target):",
        "if fallback and FALLBACK not in state.tried:",
        "tests/test_queue.py",
    ),
    (
        "the wait between callback tries doubles",
        "ivr/call/calling_back.py",
        'return "requeue", policy.retry_minutes * 2 ** (tries - 1)',
        'return "requeue", policy.retry_minutes * tries',
        "tests/test_worker.py",
    ),
    (
        "the agent still gets the call when the whisper fails",
        "webhooks/voice.py",
        "on_failure=lambda: reply(failures.BARE_WHISPER),",
        "",
        "tests/test_calls.py",
    ),
    (
        "the wait message when Redis is down",
        "webhooks/voice.py",
        "on_failure=lambda: reply(failures.STILL_WAITING),",
        "",
        "tests/test_queue.py",
    ),
    (
        "callbacks come from the line's number; TWILIO_CALLER_ID only when it lists none",
        "ivr/dispatcher/worker.py",
        "caller_id = (flow.numbers[0] if flow.numbers else None) or self.caller_id",
        "caller_id = self.caller_id or (flow.numbers[0] if flow.numbers else None)",
        "tests/test_worker.py",
    ),
    (
        "an expired ringing or busy reservation frees the person (Lua)",
        "ivr/store/lua.py",
        "if (s == 'ringing' or s == 'busy') and tonumber(rec['until'] or 0) > 0 and tonumber(rec['until']) < now then",
        "if false then",
        "tests/test_worker.py",
    ),
    (
        "a caller whose call Twilio says has ended (400/21220) leaves the line for good",
        "ivr/dispatcher/worker.py",
        "if twilio_api.call_is_over(exc):",
        "if False:",
        "tests/test_worker.py",
    ),
    (
        "the line heals: what the store holds for an ended call is let go",
        "ivr/dispatcher/reconcile.py",
        "if status not in CALL_ENDED and status != twilio_api.GONE:",
        "if True:",
        "tests/test_healing.py",
    ),
    (
        "a callback whose customer was dialled is never placed again on a guess",
        "ivr/call/calling_back.py",
        'return ("supervisors" if status == CALLING_CUSTOMER else "requeue"), now + PERSON_MISSED_PAUSE_SECONDS',
        'return "requeue", now + PERSON_MISSED_PAUSE_SECONDS',
        "tests/test_healing.py",
    ),
    (
        "phone numbers are sealed before they reach Redis",
        "ivr/store/calls.py",
        "return snapshot.sealed[value] if value in snapshot.sealed else self.sealer.seal(value)",
        "return value",
        "tests/test_privacy.py",
    ),
    (
        "the local Redis keeps its data across a kill -9",
        "ivr/store/embedded_redis.py",
        "*(DURABLE if self.persist else NOT_KEPT),",
        "*NOT_KEPT,",
        "tests/test_durability.py",
    ),
    (
        "a re-sent pipeline never rings a second person (Lua)",
        "ivr/store/scripts.py",
        "if ringing == ARGV[i] then redis.call('HDEL', KEYS[2], 'ringing') end",
        "redis.call('HDEL', KEYS[2], 'ringing')",
        "tests/test_safe_retries.py",
    ),
    (
        "supervisors take a caller at once when nobody of the group is on duty",
        "ivr/call/queueing.py",
        "return now - entry.since >= max_hold_seconds or not any(staffed.get(g, 0) for g in entry.groups)",
        "return now - entry.since >= max_hold_seconds",
        "tests/test_worker.py",
    ),
    (
        "a person let go is free again in the indexes webhooks read",
        "ivr/store/lua.py",
        "  put_record(agent, {s = 'available', idle = idle}, now)",
        "  redis.call('HSET', PRESENCE, agent, cjson.encode({s = 'available', idle = idle}))",
        "tests/test_outage_scale.py",
    ),
    (
        "a caller's place counts those ahead in their line",
        "ivr/store/index_scripts.py",
        "      ahead = math.max(ahead, redis.call('ZRANK', LINE .. g, ARGV[3]) or 0)",
        "      ahead = ahead + 0",
        "tests/test_outage_scale.py",
    ),
    (
        "a round's hand-overs go to Twilio together",
        "ivr/dispatcher/worker.py",
        "        done += self._senders.map(lambda job: self._hand_over(*job, now), taken)",
        "        done += [self._hand_over(*job, now) for job in taken]",
        "tests/test_outage_scale.py",
    ),
    (
        "a hold whose webhook never came is let go",
        "ivr/store/index_scripts.py",
        "sweep(now, 5)",
        "",
        "tests/test_queue.py tests/test_worker.py tests/test_outage_scale.py",
    ),
]


def main() -> int:
    unguarded = []
    for promise, file, original, broken, tests in MUTATIONS:
        path = ROOT / file
        text = path.read_text()
        assert text.count(original) == 1, f"{file}: the line to break is not there once: {original}"
        try:
            path.write_text(text.replace(original, broken))
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
        finally:
            path.write_text(text)
        failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
        noticed = run.returncode != 0
        print(f"{'caught' if noticed else 'MISSED'}: {promise} ({file})", *failed[:1], sep="\n    ")
        if not noticed:
            unguarded.append(promise)
    print(f"{len(MUTATIONS) - len(unguarded)} of {len(MUTATIONS)} mutations caught")
    return 1 if unguarded else 0


if __name__ == "__main__":
    sys.exit(main())
