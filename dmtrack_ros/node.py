"""The ``dmtrack_node`` process: start the node, spin it, take it down cleanly.

Only the standard library is imported at module level, so SIGINT/SIGTERM handlers are in
place a few milliseconds after the process starts: a signal at any time, start-up (imports,
loading the network) included, ends the process with exit code 0 and no traceback. While
running, the worker finishes its frame and the node is taken down in order before the ROS
context goes away, so nothing is published into a dead context (no ERROR on shutdown).

Missing or corrupt weights, or invalid parameters: exit code 2 with one line on stderr.
The node itself is :class:`dmtrack_ros.tracker_node.DmtrackNode`.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

EXIT_STARTUP_ERROR = 2
REQUEST_THREADS = 2  # ~/set_target and ~/reset wait for the worker; two may wait at once
# How often a thread holding the GIL hands it over (Python's default is 5 ms). The executor
# that delivers images waits for the GIL while the worker runs the tracker's Python. At 0.5 ms
# the 30 fps node benchmark on 2 cores processed 278-280 of 300 frames against 260-263, with
# a tracker step of 32 ms instead of 37 (alternating runs, docs/node.md).
GIL_SWITCH_INTERVAL_S = 0.0005


def __getattr__(name: str) -> Any:
    # the node class under its old address, without importing ROS at module level
    if name in ("DmtrackNode", "StartupError", "NODE_NAME"):
        from dmtrack_ros import tracker_node

        return getattr(tracker_node, name)
    raise AttributeError(name)


# ----------------------------------------------------------------------------------------
# the process
# ----------------------------------------------------------------------------------------
class _Interrupted(BaseException):
    """SIGINT/SIGTERM during start-up: unwind from wherever start-up is."""


class _Signals:
    """SIGINT and SIGTERM: during start-up they abort it; while running they ask the spin loop
    to end. rclpy's own handlers are not installed, so the context stays valid until the node
    has been taken down in order (no publishing into a dead context)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.running = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested.set()
        if not self.running:
            raise _Interrupted()


def main(argv: list[str] | None = None) -> int:
    """Console script ``dmtrack_node``: run the node until shutdown; returns the exit code."""
    signals = _Signals()
    signals.install()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    node = executor = requests = None
    rclpy = None
    try:
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from dmtrack_ros.tracker_node import DmtrackNode, StartupError

        rclpy.init(args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO)
        try:
            node = DmtrackNode()
        except StartupError as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the underlying error printed
            print(f"dmtrack_node: {reason}", file=sys.stderr, flush=True)
            return EXIT_STARTUP_ERROR
        executor, requests = _executors()
        executor.add_node(node)
        requests.add_node(node.requests_node)
        threading.Thread(target=requests.spin, name="dmtrack-requests", daemon=True).start()
        signals.running = True
        if signals.requested.is_set():
            return 0
        while not signals.requested.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.2)
    except (_Interrupted, KeyboardInterrupt):
        pass
    except Exception as exc:
        # the context was shut down from outside (rclpy.executors.ExternalShutdownException)
        if type(exc).__name__ != "ExternalShutdownException":
            raise
    finally:
        signals.running = True  # a second signal while cleaning up must not interrupt it
        if node is not None:
            node.stop()
        if requests is not None:
            requests.shutdown(timeout_sec=5.0)
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if node is not None:
            node.destroy_node()
        if rclpy is not None:
            rclpy.try_shutdown()
    return 0


def _executors() -> tuple[Any, Any]:
    """The node's executor and the one for its blocking services (``DmtrackNode.requests_node``).

    The node's own callbacks only store things, so one thread serves them; rclpy's C++ events
    executor does that without Python in its wait loop. With Python's executor the frames
    reached the image callback up to 110 ms late while the tracker ran; the demo processed 61 of
    61 frames in four runs against 47-58, and the 30 fps benchmark 267-288 of 300 against 224
    (docs/node.md). Where rclpy has no events executor (before Jazzy), a multi-threaded one.
    """
    from rclpy.executors import MultiThreadedExecutor

    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        # images and timers, and ~/enable beside them: callbacks that only store things
        return MultiThreadedExecutor(num_threads=2), MultiThreadedExecutor(num_threads=REQUEST_THREADS)
    return EventsExecutor(), MultiThreadedExecutor(num_threads=REQUEST_THREADS)


if __name__ == "__main__":
    sys.exit(main())
