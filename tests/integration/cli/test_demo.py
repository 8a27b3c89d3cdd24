"""``data-manager demo``, the offline market, stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from cli_process import BIN, Cli

DEADLINE_S = 30.0


def test_demo_without_storage_stops_on_ctrl_c_with_exit_0(cli_sqlite: Cli) -> None:
    # Python 3.11's asyncio.wait_for could swallow the cancellation of the venue's replay,
    # and the demo then hung after printing its summary.
    command = [str(BIN / "data-manager"), "demo", "--no-persist", "--no-ipc", "--rate", "200"]
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=cli_sqlite.cwd,
        env=cli_sqlite.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as demo:
        stderr = demo.stderr
        assert stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(stderr), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + DEADLINE_S
            while not any("streaming" in line for line in lines):
                assert time.monotonic() < deadline and demo.poll() is None, "".join(lines)
                time.sleep(0.05)
            time.sleep(1.0)  # a second of market: the replay waits for its next frame
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=DEADLINE_S)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
        reader.join(DEADLINE_S)
    assert code == 0, "".join(lines)
    assert any(line.startswith("stopped after") for line in lines), "".join(lines)
