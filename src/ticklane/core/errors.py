"""The exceptions ticklane raises, branched by what the caller must do.

::

    TicklaneError                 root: catch this to catch everything of ours
    ├── ConfigError               fix the configuration and start again
    ├── BadDataError              reject this input; it names the field, the value and where
    │   └── OutOfRangeError       a value does not fit its fixed-point column
    ├── StorageError              the tick store failed; what was stored before is intact
    │   └── MigrationError        a schema migration failed and was rolled back
    ├── TransientError            retry the same call later
    │   └── RateLimitedError      retry, but back off first
    ├── PermanentError            never retry: the request itself is wrong
    ├── NoDataError               this source has none of what was asked; another may
    └── NotAvailableError         the feature does not exist on this backend or in this build

A foreign library's exceptions are translated into these in one place per transport.
"""

from __future__ import annotations


class TicklaneError(Exception):
    """Root of every exception ticklane raises on purpose."""


class ConfigError(TicklaneError):
    """The configuration is wrong: the message names the file, the key and what is allowed."""


class BadDataError(TicklaneError, ValueError):
    """Input data was rejected: the message names the field and the value."""

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class OutOfRangeError(BadDataError):
    """A value cannot be represented exactly in its fixed-point column."""


class StorageError(TicklaneError):
    """The tick store failed; nothing stored earlier was lost."""


class MigrationError(StorageError):
    """A schema migration failed; its transaction was rolled back."""


class TransientError(TicklaneError):
    """A temporary failure: the same call may succeed later."""


class RateLimitedError(TransientError):
    """The remote side asked us to slow down."""


class PermanentError(TicklaneError):
    """The request can never succeed as made."""


class NoDataError(TicklaneError):
    """A history source has no data for what was asked (a file not published yet or not in
    the archive, a range before its history begins); another source may have it. Combined
    with ``TransientError`` or ``PermanentError`` to say whether this source ever will."""


class NotAvailableError(TicklaneError):
    """The feature is not offered by this backend or not delivered yet."""
