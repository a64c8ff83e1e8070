# SPDX-License-Identifier: GPL-3.0-or-later
"""The command-line options that choose the test-time views (``core.views``), shared by
``training.evaluate``, ``training.export`` and ``training.calibrate``."""

from __future__ import annotations

import argparse
import dataclasses

from core.predict import InferenceSettings


def add_view_arguments(ap: argparse.ArgumentParser, default: str) -> None:
    """``--no-flip-average``, ``--shift DY DX`` and ``--scale K`` (repeatable), ``--network-side PX``.

    ``default`` says which views the command uses when none of these is given (in ``--help``).
    """
    g = ap.add_argument_group("test-time views (core.views)", f"Default: {default}.")
    g.add_argument("--no-flip-average", action="store_true", help="no mirror averaging")
    g.add_argument("--shift", type=int, nargs=2, action="append", default=None, metavar=("DY", "DX"),
                   help="extra view: the crop shifted by DY, DX px per 128 px of side (repeatable)")
    g.add_argument("--scale", type=float, action="append", default=None, metavar="K",
                   help="extra view: the crop resampled by K (repeatable)")
    g.add_argument("--network-side", type=int, default=None, metavar="PX",
                   help="side every crop is resampled to for the network (0: the crop's own side)")


def views_from_args(args: argparse.Namespace, base: InferenceSettings) -> InferenceSettings:
    """``base`` with what the command line sets replaced.

    ``--no-flip-average`` turns the mirror off; any ``--shift`` or ``--scale``
    replaces all of ``base``'s extra views; ``--network-side`` replaces its side.
    Bad values raise ``ValueError`` (:class:`~core.predict.InferenceSettings`).
    """
    changes: dict = {}
    if args.no_flip_average:
        changes["flip_average"] = False
    if args.shift is not None or args.scale is not None:
        changes.update(shifts=args.shift or (), scales=args.scale or ())
    if args.network_side is not None:
        changes["network_side"] = args.network_side
    return dataclasses.replace(base, **changes)
