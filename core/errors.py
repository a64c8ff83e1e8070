# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception type the core raises for problems the user can act on."""


class FaceFromPhotoError(Exception):
    """A problem with the input or the environment, worded for the artist.

    ``str(error)`` is one sentence saying what is wrong and what to do; the
    Blender side shows it with ``Operator.report({'ERROR'}, str(error))``.
    """
