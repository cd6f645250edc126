"""Policy vocabulary shared with notifications (kept free of model imports)."""

from __future__ import annotations

from django.db import models


class PreferencePolicy(models.TextChoices):
    """How a type's notifications meet the recipient's preferences."""

    OPT_OUT = "opt_out", "On unless the recipient turns it off"
    OPT_IN = "opt_in", "Off until the recipient turns it on"
    REQUIRED = "required", "Always on (preferences do not apply; suppressions and STOP still do)"


MARKETING = "marketing"
TRANSACTIONAL = "transactional"
