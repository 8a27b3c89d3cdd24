"""The webhook handler: each alert POSTed as a Slack-compatible JSON message.

The body is what a Slack incoming webhook accepts (``text``, mandatory, is the notification
fallback; ``blocks`` the formatted message), so the URL may be Slack's or any receiver that
reads JSON. The URL holds a secret token: it never appears in a repr, a log line or an error,
only its host does.

How each outcome of one attempt is handled (translated in `WebhookAlertHandler._post_once`)::

    2xx                                   delivered
    429                                   WebhookRateLimitedError (RateLimitedError):
                                          retried after Retry-After (capped) or the backoff
    408, 5xx; timeout; connection errors  TransientError: retried with capped, jittered backoff
    other status (4xx, 3xx)               PermanentError: not retried, the request is wrong

When the attempts are used up the last error is raised; the evaluator counts it as a
failure of this handler.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import msgspec

from ticklane.alerting.model import Alert, Severity
from ticklane.core.errors import ConfigError, PermanentError, RateLimitedError, TransientError
from ticklane.core.time import format_ns

__all__ = ["WebhookAlertHandler", "WebhookRateLimitedError", "slack_payload"]

log = logging.getLogger(__name__)

_EMOJI: Final = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
# Slack refuses a section or context text longer than 3000 characters.
_BLOCK_TEXT_LIMIT: Final = 3000
_BODY_SNIPPET: Final = 200


class WebhookRateLimitedError(RateLimitedError):
    """The receiver answered 429; ``retry_after_s`` is its ``Retry-After`` when it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _escape(text: str) -> str:
    # Slack reads &, < and > as markup (``<!channel>`` would notify everyone).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str) -> str:
    return text if len(text) <= _BLOCK_TEXT_LIMIT else text[: _BLOCK_TEXT_LIMIT - 3] + "..."


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The JSON body for `alert`: ``{"text": ..., "blocks": [section, context]}``."""
    emoji = _EMOJI[alert.severity]
    message = _escape(alert.message)
    labels = ", ".join(f"{key}={value}" for key, value in sorted(alert.labels.items()))
    context = f"{format_ns(alert.ts_ns)}" + (f" | {_escape(labels)}" if labels else "")
    return {
        "text": f"{emoji} [{alert.severity.value}] {alert.rule}: {message}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"{emoji} *{alert.severity.value}* `{alert.rule}`\n{message}"),
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context)}]},
        ],
    }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date: fall back to our own backoff
    return seconds if seconds >= 0 else None


class WebhookAlertHandler:
    """POSTs each alert to `url` as a Slack-compatible JSON message (see the module docstring).

    Options:
        url: the webhook URL (http or https); a secret, never logged.
        name: the handler's name in metrics and failure counts.
        timeout_secs: deadline of one attempt, connection to last byte of the answer, > 0.
        retries: further attempts after a retryable failure, >= 0 (total = retries + 1).
        backoff_secs: wait before the first retry, doubled on each further one, >= 0; the
            wait actually used is drawn between half of it and all of it (jitter).
        max_backoff_secs: cap of any wait, Retry-After included.
        client: an ``httpx.AsyncClient`` to share; by default the handler makes its own and
            closes it in `aclose()`.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "webhook",
        timeout_secs: float = 5.0,
        retries: int = 3,
        backoff_secs: float = 0.5,
        max_backoff_secs: float = 8.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"alerting webhook {name!r}: the URL must be http:// or https:// with a host"
            )
        if timeout_secs <= 0 or retries < 0 or backoff_secs < 0 or max_backoff_secs < 0:
            raise ConfigError(
                f"alerting webhook {name!r}: need timeout_secs > 0, retries >= 0, "
                f"backoff_secs >= 0 and max_backoff_secs >= 0"
            )
        self._url = url.strip()
        self._host = parts.hostname
        self._name = name
        self._timeout = timeout_secs
        self._retries = retries
        self._backoff = backoff_secs
        self._max_backoff = max_backoff_secs
        self._client = client
        self._own_client = client is None

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"WebhookAlertHandler(name={self._name!r}, host={self._host!r})"

    async def handle(self, alert: Alert) -> None:
        body = msgspec.json.encode(slack_payload(alert))
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            try:
                await self._post_once(body)
                return
            except TransientError as error:
                if attempt == attempts:
                    raise
                delay = self._delay(attempt, error)
                log.warning(
                    "alert webhook %s (%s): attempt %d of %d for %s failed: %s; retry in %.2fs",
                    self._name,
                    self._host,
                    attempt,
                    attempts,
                    alert.rule,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def worst_case_secs(self) -> float:
        """The longest one `handle` call can take: every attempt timing out, every backoff
        at its ceiling."""
        waits = sum(self._ceiling(attempt) for attempt in range(1, self._retries + 1))
        return (self._retries + 1) * self._timeout + waits

    def _ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based)."""
        return min(self._backoff * 2.0 ** (attempt - 1), self._max_backoff)

    def _delay(self, attempt: int, error: TransientError) -> float:
        if isinstance(error, WebhookRateLimitedError) and error.retry_after_s is not None:
            return min(error.retry_after_s, self._max_backoff)
        ceiling = self._ceiling(attempt)
        # Jitter spreads out retries of several processes alerting on the same incident.
        return random.uniform(ceiling / 2, ceiling)

    async def _post_once(self, body: bytes) -> None:
        """One POST; its outcome translated as the module docstring says."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        where = f"alert webhook {self._name} ({self._host})"
        try:
            # httpx's timeout bounds each phase; this bounds the whole attempt, so a receiver
            # trickling its answer cannot hold the handler past its deadline.
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(
                    self._url,
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=self._timeout,
                )
        except (TimeoutError, httpx.TimeoutException):
            raise TransientError(f"{where}: no answer within {self._timeout:g}s") from None
        except httpx.TransportError as error:
            raise TransientError(f"{where}: {type(error).__name__}: {error}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        answer = f"{where}: HTTP {status} {response.text[:_BODY_SNIPPET]!r}"
        if status == 429:
            raise WebhookRateLimitedError(answer, retry_after_s=_retry_after(response))
        if status == 408 or status >= 500:
            raise TransientError(answer)
        raise PermanentError(answer)
