# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless training tools (never shipped in the extension zip).

Synthetic head rendering, network training, evaluation and weight export.
May import ``core``; ``core`` never imports ``training``.
"""
