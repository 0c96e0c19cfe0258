"""Runs the tracker node (`dmtrack_node`) as a separate process and always cleans it up.

The node gets its own process group and, on Linux, a parent-death signal, so neither an
error path nor a killed parent leaves it running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

NODE_NAME = "dmtrack"
NODE_EXECUTABLE = "dmtrack_node"


class TrackerProcessError(RuntimeError):
    """The tracker node could not be started or stopped working."""


def node_command() -> list[str]:
    """How to start the node: the console script beside this interpreter, on PATH, or the module."""
    beside = Path(sys.executable).with_name(NODE_EXECUTABLE)
    if beside.is_file():
        return [str(beside)]
    on_path = shutil.which(NODE_EXECUTABLE)
    if on_path:
        return [on_path]
    return [sys.executable, "-c", "import sys; from dmtrack_ros.node import main; sys.exit(main())"]


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the process group still lets stop() reach every child


class TrackerProcess:
    """The `dmtrack_node` process, named ``dmtrack`` in ``namespace`` (so its outputs are
    ``<namespace>/dmtrack/...``), with its output in ``log_path``."""

    def __init__(
        self,
        namespace: str,
        log_path: Path,
        remappings: Mapping[str, str] | None = None,
        parameters: Mapping[str, object] | None = None,
        params_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """``remappings`` maps the node's topic names (``image``, ``init_target``, ...) to
        the ones to use; ``parameters`` override ``params_file`` (booleans as true/false)."""
        self.namespace = "/" + namespace.strip("/")
        self.node_fqn = f"{self.namespace.rstrip('/')}/{NODE_NAME}"
        args = list(command or node_command())
        args += ["--ros-args", "-r", f"__ns:={self.namespace}", "-r", f"__node:={NODE_NAME}"]
        for name, target in (remappings or {}).items():
            args += ["-r", f"{name}:={target}"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        for name, value in (parameters or {}).items():
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            args += ["-p", f"{name}:={text}"]
        self.args = args
        self.log_path = log_path
        self.env = dict(env if env is not None else os.environ)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(
                    self.args,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )
            except OSError as exc:
                raise TrackerProcessError(f"cannot start the tracker node {self.args[0]}: {exc}") from exc

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """Raise with the node's own last words if it has exited."""
        if self.process is not None and self.process.poll() is not None:
            reason = self.last_log_line() or "no output"
            raise TrackerProcessError(
                f"the tracker node exited with code {self.process.returncode}: {reason}"
            )

    def log(self) -> str:
        """Everything the node has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        meaningful = [line.strip() for line in lines if line.strip() and not line.startswith("Traceback")]
        return meaningful[-1] if meaningful else ""

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGINT (clean ROS shutdown), then SIGTERM, then SIGKILL, to the whole process group."""
        process = self.process
        if process is None:
            return None
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        # the group may hold helpers the node started; none may outlive the run
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.poll()
