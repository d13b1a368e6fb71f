"""The collector's settings for a process that serves: one that lives long, built once, then allocates
in bursts of short-lived containers (the server, and the store's writer process)."""

from __future__ import annotations

import gc

YOUNG_OBJECTS = 50_000  # the collector's first threshold (CPython's default is 700)


def settle_heap() -> None:
    """For a serving process, once what lives as long as it (modules, the config, its routes, the app) is
    built: the collector stops looking at that (``gc.freeze``), and looks at young objects less often. A
    warning allocates thousands of short-lived containers, nearly all freed by reference counting within
    its request (or its batch, in the writer process); at the default threshold the collector took 14 % of
    the serving thread going over the same survivors again and again (1 % after)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)
