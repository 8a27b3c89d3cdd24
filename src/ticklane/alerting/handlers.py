"""Where alerts go: the `AlertHandler` protocol and the log handler.

The webhook handler lives in `ticklane.alerting.webhook`. The evaluator runs each handler in
its own task under a timeout and counts what it raises, so a handler may simply raise on
failure; it never has to protect the other handlers.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

from ticklane.alerting.model import Alert, Severity

__all__ = ["ALERT_LOGGER", "AlertHandler", "LogAlertHandler"]

# Alerts are logged on their own logger so that they can be routed or filtered apart from the
# alerting machinery's own messages (``[logging] levels``).
ALERT_LOGGER: Final = "ticklane.alerts"

_LEVELS: Final = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.CRITICAL,
}


class AlertHandler(Protocol):
    """Delivers alerts somewhere; `name` is unique among an evaluator's handlers."""

    @property
    def name(self) -> str: ...

    async def handle(self, alert: Alert) -> None:
        """Deliver one alert, raising if it could not be delivered."""
        ...

    async def aclose(self) -> None:
        """Release what the handler holds (connections); called once, at shutdown."""
        ...


class LogAlertHandler:
    """Logs each alert at the level of its severity (INFO, WARNING, CRITICAL).

    Options:
        logger: where to log; defaults to the ``ticklane.alerts`` logger.
        name: the handler's name in metrics and failure counts.

    The record carries the alert itself as ``record.alert`` for structured log formatters.
    """

    def __init__(self, logger: logging.Logger | None = None, *, name: str = "log") -> None:
        self._logger = logger if logger is not None else logging.getLogger(ALERT_LOGGER)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def handle(self, alert: Alert) -> None:
        self._logger.log(
            _LEVELS[alert.severity],
            "ALERT %s %s: %s",
            alert.severity.value,
            alert.rule,
            alert.message,
            extra={"alert": alert},
        )

    async def aclose(self) -> None:
        return None
