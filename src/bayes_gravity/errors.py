"""Error hierarchy and the exit codes the CLI maps them to.

Library code raises these (never prints, never exits); validation collects every problem first
and raises once, so the user sees the whole list in one go.
"""

from __future__ import annotations

from collections.abc import Iterable


class BayesGravityError(Exception):
    """Base class of every error the toolkit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        """Message followed by one bullet per problem."""
        if not self.problems:
            return self.message
        return "\n".join([self.message, *(f"  - {p}" for p in self.problems)])


class ConfigError(BayesGravityError):
    """A model or scenario spec (or a command-line option) is invalid."""

    exit_code = 2


class DataError(BayesGravityError):
    """An input data file is unreadable or fails validation."""

    exit_code = 3


class DiagnosticsError(BayesGravityError):
    """The fit failed its diagnostics gate and ``--strict`` was given."""

    exit_code = 4


class ResultsError(BayesGravityError):
    """A saved run folder is missing, corrupted or does not match its spec/data."""

    exit_code = 2


class FolderLockedError(BayesGravityError):
    """Another command is writing into the same output folder."""

    exit_code = 5


class OutputWriteError(BayesGravityError):
    """Writing results failed (disk full, permission denied); the earlier results stand."""

    exit_code = 6


class WorkerDiedError(BayesGravityError):
    """A parallel worker process died while running a fit (killed, out of memory)."""

    exit_code = 1


class BayesGravityWarning(UserWarning):
    """Something the user should know about that does not stop the run."""
