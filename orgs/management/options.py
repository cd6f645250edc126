"""The `--organisation SLUG` option the commands that create or act on an organisation's rows share."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from commhub.tenancy import DEFAULT_ORGANISATION_SLUG

from ..models import Organisation
from ..services import organisation_by_slug


def add_organisation_option(parser: Any, *, default: str = DEFAULT_ORGANISATION_SLUG, help: str = "") -> None:
    parser.add_argument(
        "--organisation",
        default=default,
        help=help or "the organisation's slug (create_organisation); default: default",
    )


def organisation_named(slug: str) -> Organisation:
    """The organisation `--organisation` names, or the command's one readable line naming the known ones."""
    try:
        return organisation_by_slug(slug)
    except ValidationError as exc:
        raise CommandError(exc.message_dict["organisation"][0]) from exc
