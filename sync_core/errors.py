"""Errors a user can act on: each message says what happened, where, and what to do next."""

# The class a run is recorded with when an error stops it (rows have their own: outcomes.ERROR_CLASSES).
# `internal` is a bug in sync-core, never raised on purpose.
RUN_ERROR_CLASSES = ("config", "data", "transient", "internal")
INTERNAL = "internal"


class SyncCoreError(Exception):
    """Base class of every error sync_core raises on purpose. `error_class` is what a run it stops is recorded
    with: `config` needs the user; `transient` may pass by itself."""
    error_class = "transient"


class ConfigError(SyncCoreError):
    """workspace.toml (or a secret it references) is wrong. Raised before any query runs."""
    error_class = "config"

    def __init__(self, file, key: str, problem: str):
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {problem}")


class ModelError(SyncCoreError):
    """A model's SQL could not be translated or run in its source."""
    error_class = "config"

    def __init__(self, model: str, source: str, problem: str):
        self.model = model
        self.source = source
        super().__init__(f"model '{model}' (source '{source}'): {problem}")


class DestinationError(SyncCoreError):
    """A destination refused the whole run (bad credentials, unreachable host).

    `code` is the vendor's code or HTTP status; `hint` says what to check."""
    error_class = "config"

    def __init__(self, destination: str, code: str, message: str, hint: str):
        self.destination = destination
        self.code = code
        self.hint = hint
        super().__init__(f"destination '{destination}' answered {code}: {message}. {hint}")


class DestinationUnavailable(DestinationError):
    """A destination kept failing past the retries (5xx, timeouts, rate limits), or refused connections: it may
    pass by itself (or once the service is started), so the next run tries again."""
    error_class = "transient"


class WorkspaceBusyError(SyncCoreError):
    """Another process holds a lock we need (a run of the same sync, or the warehouse file)."""


class StateStoreError(SyncCoreError):
    """The state store's file cannot be used: `path` is the file, `next_step` what the user can do."""
    error_class = "config"
    what = "cannot use the state store {path}"

    def __init__(self, path, problem: str, next_step: str):
        self.path = str(path)
        self.problem = problem
        self.next_step = next_step
        self.summary = f"{self.what.format(path=self.path)}: {problem}"  # what happened, where
        super().__init__(f"{self.summary}. {next_step}")


class StateDamaged(StateStoreError):
    """The file is damaged (empty, truncated, not a database, or failing SQLite's integrity check). Nothing runs
    on it: a run on a damaged store could resend everything, or count rows as synced that were never sent."""
    what = "the state store {path} is damaged"


class StateUnwritable(StateStoreError):
    """A write failed: a read-only file or folder, a full disk, an I/O error."""
    what = "cannot write the state store {path}"


class RunFenced(SyncCoreError):
    """This run was marked interrupted by another process (its lease lapsed while it was stopped or cut off, or
    `run-cancel --force`) and may already have a successor: it stops, and its batch's rows are left for the next
    run to send again, since what the destination holds of them is no longer known."""
    error_class = "transient"


def engine_message(exc: Exception) -> str:
    """An engine's error in one line: its first, and the suggestion DuckDB gives on the next ("Did you mean
    "marketing_contacts"?", "Candidate bindings: ..."), without the quoted SQL and its caret."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    if not lines:
        return type(exc).__name__
    hints = [line for line in lines[1:3] if line.startswith(("Did you mean", "Candidate bindings"))]
    return " ".join([lines[0], *hints])
