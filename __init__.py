# SPDX-License-Identifier: GPL-3.0-or-later
"""Face from Photo: turn one photo of a person into a textured 3D face mesh.

Registration only. Enabling the add-on must stay cheap: nothing here (or in
the modules it imports at registration) imports torch, scipy or cv2. A one-shot
timer then imports them and loads the network on a low-priority thread
(:mod:`.blender.warmup`, unless the preference turns it off); otherwise the
reconstruction code imports them when it first runs.

Scripts: ``<this module>.api.reconstruct(path, **options)``.
"""

from . import api, cli, operators, panels, preferences
from .blender import settings, warmup


def register() -> None:
    preferences.register()
    settings.register()
    operators.register()
    panels.register()
    cli.register()
    warmup.register()


def unregister() -> None:
    warmup.unregister()
    cli.unregister()
    panels.unregister()
    operators.unregister()
    settings.unregister()
    preferences.unregister()
