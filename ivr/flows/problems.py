"""One format for everything wrong with a flow: `path:line:col: message [rule]`."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """A problem found at a position in a file (line and column count from 1)."""

    path: str
    line: int
    col: int
    message: str
    rule: str
    severity: str = ERROR
    hint: str = ""

    def __str__(self) -> str:
        label = "warning: " if self.severity == WARNING else "error: "
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.path}:{self.line}:{self.col}: {label}{self.message}{hint} [{self.rule}]"

    @property
    def is_error(self) -> bool:
        """True for problems that stop a flow from loading."""
        return self.severity == ERROR


class FlowError(Exception):
    """A flow file could not be loaded; carries every problem found, sorted."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def quoted(names) -> str:
    """Names as a sorted, quoted, comma-separated list for messages."""
    return ", ".join(f'"{n}"' for n in sorted(names))
