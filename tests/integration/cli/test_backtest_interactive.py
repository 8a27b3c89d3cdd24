"""``trading-core backtest`` without arguments in a terminal asks for what it needs."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

from cli_process import BIN, Cli
from test_backtest import _import

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A program on a pseudo-terminal: wait for text, answer prompts."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = dict(cli.env, COLUMNS="160", TERM="xterm")
        self.process = subprocess.Popen(
            [str(BIN / "trading-core"), *args],
            cwd=cli.cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
        )
        os.close(slave)
        self.screen = ""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} on screen:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536).decode(errors="replace")
                    self.screen += ANSI.sub("", chunk)
                except OSError:  # the program ended
                    break

    def answer(self, prompt: str, reply: str) -> None:
        self.expect(prompt)
        self.screen = self.screen[self.screen.index(prompt) + len(prompt) :]
        os.write(self.master, reply.encode() + b"\r")

    def finish(self, timeout: float = 60.0) -> int:
        self.expect("fees paid", timeout)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        os.close(self.master)


def test_interactive_backtest_offers_what_the_store_holds(cli_sqlite: Cli) -> None:
    _import(cli_sqlite)
    terminal = Terminal(cli_sqlite, "backtest")
    try:
        terminal.expect("BTCUSDT.binance:")  # the stored instruments are listed first
        terminal.answer("instrument", "")
        terminal.answer("strategy", "rsi")
        terminal.answer("period", "10")
        for prompt in ("oversold", "overbought", "bar_type"):
            terminal.answer(prompt, "")
        terminal.answer("quantity", "0.05")
        terminal.answer("equity_fraction", "")
        terminal.answer("start", "")
        terminal.answer("end", "")
        terminal.answer("capital", "25000")
        assert terminal.finish() == 0
    finally:
        terminal.close()
    assert "rsi on BTCUSDT.binance" in terminal.screen
    assert "period=10" in terminal.screen and "quantity=0.05" in terminal.screen
    assert re.search(r"initial capital +25000 USDT", terminal.screen)  # the capital chosen


def test_no_arguments_without_a_terminal_asks_for_flags(cli_sqlite: Cli) -> None:
    run = cli_sqlite.run("backtest", program="trading-core")
    assert run.returncode == 2 and "--symbol and --strategy" in run.stderr
