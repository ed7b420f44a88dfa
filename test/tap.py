"""The test runner's line protocol for Python tests: `ok - NAME` or
`not ok - NAME: WHY` per check (see test/run_tests.sh); failed() says
whether any check failed, for the exit status."""

_failures = 0


def ok(name):
    print(f"ok - {name}", flush=True)


def not_ok(name, why):
    global _failures
    _failures += 1
    print(f"not ok - {name}: {why}", flush=True)


def check(cond, name, why):
    ok(name) if cond else not_ok(name, why)


def failed():
    return _failures > 0
