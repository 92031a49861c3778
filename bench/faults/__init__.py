"""Fault runs of the real `crmbot run` (issue 14): kill -9 under load, workers racing, the
platforms and the database failing, hostile HTTP clients.

    .venv/bin/python -m bench.faults --cycles 100          # the full run (≥ 100 kills per engine)
    .venv/bin/python -m bench.faults --ci                  # the CI run: a and b, 12 kills each, ~2-3 min
    .venv/bin/python -m bench.faults --cycles 20 --quick   # every scenario, short (~7 min)
    .venv/bin/python -m bench.faults --only a,d            # some scenarios (the control always runs)

crmbot runs as child processes (`crmbot run --telegram --slack`, configured through CRMBOT_*)
against the Telegram and Slack stand-ins of tests/standins, which run in this process on
127.0.0.1:0, and a SQLite file or a throwaway PostgreSQL server. Every user message and every
reminder carries a unique token, so records are counted by token in the database and sends by
token at the stand-ins: lost, duplicated and late are exact, never inferred from totals.

One line of figures per scenario; the exit status is 1 when a target is missed (see
figures.py), 2 when the control run, which has no faults, is not clean (then the harness or
crmbot itself is broken). With --keep, each scenario's folder holds the workers' logs and an
events.json: the workers' lives, and every message and reminder that went wrong, by token.
"""
