"""A stop request (Ctrl-C, SIGTERM) that cannot be lost.

The CLI turns both signals into KeyboardInterrupt. Python drops an exception raised while it runs a finalizer
(`__del__`, a weakref callback: "Exception ignored in ..."), so an interrupt landing there would be printed and
forgotten, and the planner would go on to write its plan and exit 0. The handler therefore also records the
request; the places that wait on a solver process and the one place that commits an output file ask again.
"""

from __future__ import annotations

_requested = False


def on_stop_signal(signum, frame) -> None:
    """Signal handler: remember the request, then interrupt whatever runs now."""
    global _requested
    _requested = True
    raise KeyboardInterrupt


def raise_if_requested() -> None:
    """KeyboardInterrupt when a stop was requested, even if its first KeyboardInterrupt was swallowed."""
    if _requested:
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a request (a new command starts; a forked child does not inherit its parent's decision)."""
    global _requested
    _requested = False
