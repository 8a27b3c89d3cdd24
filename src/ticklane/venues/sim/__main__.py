"""Run a local venue as a process.

    python -m ticklane.venues.sim --venue binance --recording PATH --speed 10 --port 0

When it listens it prints one JSON line on stdout: ``{"venue", "ws_url", "http_url",
"endpoints", "pid"}``; it runs until SIGTERM / SIGINT (or, with ``--exit-at-end``, until the
replay is over). Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

from ticklane.core.errors import TicklaneError
from ticklane.venues.sim.server import VENUES, LocalVenue
from ticklane.venues.sim.synthetic import SyntheticMarket


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ticklane.venues.sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--venue", required=True, choices=sorted(VENUES))
    p.add_argument("--recording", action="append", default=[], metavar="PATH",
                   help="a recording or REST dump (repeat to merge several)")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--speed", type=float, default=1.0, help="1: recorded pace; 0 or inf: unpaced")
    p.add_argument("--start-delay", type=float, default=0.0,
                   help="seconds from the first subscription to the first frame")  # fmt: skip
    p.add_argument("--pause-when-idle", action="store_true",
                   help="hold the replay while nobody is subscribed")  # fmt: skip
    p.add_argument("--exit-at-end", action="store_true", help="exit once the replay is over")
    p.add_argument("--ping-interval", type=float, default=None)
    p.add_argument("--ping-timeout", type=float, default=None)
    p.add_argument("--max-lifetime", type=float, default=None)
    p.add_argument("--rate-limit", type=int, default=5)
    p.add_argument("--idle-timeout", type=float, default=None)
    p.add_argument("--heartbeat-interval", type=float, default=1.0)
    p.add_argument("--reject", action="append", default=[], metavar="SYMBOL")
    p.add_argument("--drop-after", metavar="FRAMES[:GAP]", help="cut a connection after FRAMES")
    p.add_argument("--drop-at", metavar="INDEX[:GAP]", help="cut every connection at INDEX")
    p.add_argument("--stall-at", metavar="INDEX:SECONDS", help="stall before item INDEX")
    p.add_argument("--stall-after", metavar="FRAMES:SECONDS", help="stall after FRAMES sent")
    synthetic = p.add_argument_group("synthetic market (binance)")
    synthetic.add_argument(
        "--synthetic-symbols",
        default="",
        metavar="N|NAMES",
        help="how many symbols (SYN0USDT, ...) or their names, e.g. BTCUSDT,ETHUSDT",
    )
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument(
        "--now", action="store_true", help="stamp the market from now, not a fixed time"
    )
    synthetic.add_argument("--rate", type=float, default=100.0, help="frames/s at speed 1")
    synthetic.add_argument("--frames", type=int, default=0, help="0: endless")
    p.add_argument("--log-level", default="WARNING")
    return p


def _pair(text: str, kind: type[float] | type[int] = int) -> tuple[int, float]:
    first, _, second = text.partition(":")
    return int(first), kind(second) if second else 0


def build(args: argparse.Namespace) -> LocalVenue:
    synthetic = None
    if args.synthetic_symbols:
        frames = args.frames or None
        names = args.synthetic_symbols
        symbols: int | tuple[str, ...] = (
            int(names)
            if names.isdigit()
            else tuple(n.strip() for n in names.split(",") if n.strip())
        )
        start = {"start_ns": time.time_ns()} if args.now else {}
        synthetic = SyntheticMarket(args.seed, symbols, args.rate, frames, **start)
    venue = LocalVenue(
        args.venue,
        args.recording,
        synthetic=synthetic,
        host=args.host,
        port=args.port,
        speed=args.speed,
        start_delay=args.start_delay,
        pause_when_idle=args.pause_when_idle,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        max_lifetime=args.max_lifetime,
        rate_limit=args.rate_limit or None,
        idle_timeout=args.idle_timeout,
        heartbeat_interval=args.heartbeat_interval or None,
        reject_symbols=args.reject,
    )
    return venue


def arm(venue: LocalVenue, args: argparse.Namespace) -> None:
    """Controls given on the command line (the replay must exist: call after ``open``)."""
    if args.drop_after:
        frames, gap = _pair(args.drop_after)
        venue.drop_after(frames, int(gap))
    if args.drop_at:
        index, gap = _pair(args.drop_at)
        venue.drop_at(index, int(gap))
    if args.stall_at:
        index, seconds = _pair(args.stall_at, float)
        venue.stall_at(index, seconds)
    if args.stall_after:
        frames, seconds = _pair(args.stall_after, float)
        venue.stall_after(frames, seconds)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with build(args) as venue:
        arm(venue, args)
        ready = {
            "venue": venue.venue,
            "ws_url": venue.ws_url,
            "http_url": venue.http_url,
            "endpoints": venue.endpoints,
            "pid": os.getpid(),
        }
        print(json.dumps(ready), flush=True)
        waiters = [asyncio.create_task(stop.wait())]
        if args.exit_at_end:
            waiters.append(asyncio.create_task(venue.replay.finished.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    if not args.recording and not args.synthetic_symbols:
        parser().error("give --recording PATH or --synthetic-symbols N")
    try:
        asyncio.run(serve(args))
    except TicklaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
