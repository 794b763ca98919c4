"""Turn a test log of the fault and hostile-input classes into a table.

Fault tests log ``FAULT-REPORT|fault|outcome|lost|duplicated``; the other tests of
the classes named on the command line are listed by name with passed/FAILED. The
output is a Markdown table, as quoted in the README.
"""

import re
import sys

STARTED = re.compile(r"Starting (\w+)\.(test_\w+)")
FAILED = re.compile(r"(?:FAIL|ERROR): (\w+)\.(test_\w+)")
REPORT = re.compile(r"FAULT-REPORT\|([^|]*)\|([^|]*)\|(\d+)\|(\d+)")


def main(path, classes):
    started, failed, reports = [], set(), []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if match := STARTED.search(line):
                if match.group(1) in classes and match.groups() not in started:
                    started.append(match.groups())
            elif match := FAILED.search(line):
                failed.add(match.groups())
            elif match := REPORT.search(line):
                reports.append(match.groups())
    rows = [(fault, outcome.strip(), lost, dup) for fault, outcome, lost, dup in reports]
    reported = len(rows)
    for klass, test in started:
        if klass == "TestFaultRecovery":
            continue
        name = test.removeprefix("test_").replace("_", " ")
        status = "FAILED" if (klass, test) in failed else "passed"
        rows.append((f"{name} ({klass})", status, "-", "-"))
    header = ("fault", "outcome", "emails lost", "emails duplicated")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _cell in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    problems = [
        row
        for row in rows
        if row[1] == "FAILED" or row[2] not in ("0", "-") or row[3] not in ("0", "-")
    ]
    missing = reported == 0
    print(
        f"\n{len(rows)} checks: {reported} injected faults with lost/duplicated counts "
        f"checked against the server, {len(rows) - reported} other tests; "
        f"{len(problems)} with a problem"
    )
    return 1 if problems or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], set(sys.argv[2:])))
