from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Template
from .selectors import active_templates, templates_by_id


@receiver([post_save, post_delete], sender=Template)
def _template_changed(**kwargs) -> None:
    active_templates.invalidate()
    templates_by_id.invalidate()
