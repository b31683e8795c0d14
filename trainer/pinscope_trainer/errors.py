"""One-line usage errors: `error: <field>: <problem>` on stderr, exit code 2 (see cli.main)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input the user can fix; `field` names the option or file, `problem` says what is allowed."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
