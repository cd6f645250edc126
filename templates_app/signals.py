from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Layout, Partial, Template, TemplateVersion
from .selectors import layouts, live_templates, partials, published_versions


@receiver([post_save, post_delete], sender=Template)
@receiver([post_save, post_delete], sender=TemplateVersion)
def _template_changed(**kwargs) -> None:
    live_templates.invalidate()
    published_versions.invalidate()


@receiver([post_save, post_delete], sender=Layout)
def _layout_changed(**kwargs) -> None:
    layouts.invalidate()


@receiver([post_save, post_delete], sender=Partial)
def _partial_changed(**kwargs) -> None:
    partials.invalidate()
