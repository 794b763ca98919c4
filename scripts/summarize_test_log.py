"""Read an Odoo test-run log and print one closing line "N passed, N failed".

Odoo prints "X failed, Y error(s) of Z tests ..." per test phase; a run also fails
when its log holds an ERROR, CRITICAL or WARNING line that no test expected (tests
that expect one capture it with assertLogs / mute_logger, so it never reaches the
log), when Odoo itself exited non-zero, or when no test ran at all.
"""

import re
import sys

RESULT = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (WARNING|ERROR|CRITICAL) ")
FAIL_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (ERROR|CRITICAL) \S+ \S+: (FAIL|ERROR):"
)


def main(log_path, odoo_rc):
    failed = errors = total = 0
    unexpected = []
    with open(log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            match = RESULT.search(line)
            if match:
                failed += int(match.group(1))
                errors += int(match.group(2))
                total += int(match.group(3))
                continue
            if LOG_LINE.match(line) and not FAIL_LINE.match(line):
                unexpected.append(line.rstrip())
    bad = failed + errors
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ERROR/WARNING line(s) in the Odoo log:")
        problems.extend("  " + line[:300] for line in unexpected[:30])
    if odoo_rc and not bad:
        problems.append(f"Odoo exited with status {odoo_rc}")
    if total == 0:
        problems.append("no test ran")
    for problem in problems:
        print(problem)
    # The unexpected log lines count as one failure so the closing line shows it.
    extra = 1 if (problems and not bad) else 0
    print(f"{total - bad} passed, {bad + extra} failed")
    return 1 if (bad or problems) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
