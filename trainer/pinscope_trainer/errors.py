"""One-line usage errors for every trainer command: `error: <field>: <problem>` on stderr, exit code 2.

A command raises `UsageError(field, problem)` where it finds bad input (before it writes anything);
`run_command` turns it into the one line and the exit code, so no command prints errors its own way.
"""

from __future__ import annotations

import sys

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input the user can fix; `field` names the option or file, `problem` says what is allowed."""

    def __init__(self, field: str, problem: str):
        problem = " ".join(str(problem).split())  # one line, whatever the message was built from
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def report(err: UsageError) -> int:
    """Print the one line and return the exit code for bad input."""
    print(f"error: {err.field}: {err.problem}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def run_command(command, interrupted="") -> int:
    """Run `command()`; its int result is the exit code (anything else means 0). Bad input -> one line
    and 2; Ctrl-C -> `interrupted: <how to resume>` and 130 (`interrupted` is that text, or a function
    giving it once the command is known)."""
    try:
        result = command()
    except UsageError as err:
        return report(err)
    except KeyboardInterrupt:
        how = interrupted() if callable(interrupted) else interrupted
        print(f"interrupted: {how or 'run the same command again to continue'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
