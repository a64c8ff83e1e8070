# SPDX-License-Identifier: GPL-3.0-or-later
"""Face from Photo: turn one photo of a person into a textured 3D face mesh.

Registration only. Enabling the add-on must stay cheap: nothing here (or in
the modules it imports at registration) imports torch, scipy or cv2; the
reconstruction code imports them when it first runs.
"""

from . import operators, panels


def register() -> None:
    operators.register()
    panels.register()


def unregister() -> None:
    panels.unregister()
    operators.unregister()
