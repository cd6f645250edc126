"""Channels: the one list of the ways commhub reaches a person, and what each way needs.

A channel is one module (notifications/channels/email.py, sms.py, ...) that declares a `ChannelSpec`
subclass and registers an instance here. The rest of commhub asks this registry and never names a
channel itself:

* preferences: where a recipient's address for the channel is, how an address is normalised and how the
  suppression list spells it; which words name it in a decision trace;
* templates: which parts (subject, text, html, title, action_url, action_label) a version for the channel has;
* costs: what a price counts (a message, or an SMS segment), its default price and whether it depends on the
  destination;
* the decision engine: whether quiet hours apply to it by default;
* the send path: the providers that carry it, channel-specific additions to a message (e.g. one-click
  unsubscribe headers), and how provider-reported statuses map to commhub's events.

The registry is filled from the `COMMHUB_CHANNELS` setting (dotted module paths, loaded on first use; the
module named `.../sms` must register the channel named `sms`), and by `register()` for channels defined
elsewhere (tests). It sits below every app and imports none of them.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from django.conf import settings

MESSAGE = "message"  # a price counts messages
SEGMENT = "segment"  # a price counts SMS segments
COST_UNITS = {MESSAGE: "Message", SEGMENT: "SMS segment"}
TEMPLATE_PARTS = ("subject", "text", "html", "title", "action_url", "action_label")


class Sender(Protocol):
    """What the send path calls (notifications.channels.base.Provider implements it)."""

    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send(self, message: Any) -> Any: ...


class UnknownChannel(LookupError):
    pass


class ChannelSpec:
    """Everything commhub needs to know about one channel. Subclass it, set the class attributes, override
    the methods that differ from the defaults, and `register()` an instance."""

    name: ClassVar[str]
    label: ClassVar[str]
    address_label: ClassVar[str] = "address"  # "recipient has no {address_label} for {name}"
    address_word: ClassVar[str] = "address"  # "{address_word} d…@example.com is not suppressed"
    parts: ClassVar[tuple[str, ...]] = ("text",)  # the template parts a version for this channel has
    cost_unit: ClassVar[str] = MESSAGE
    default_price: ClassVar[Decimal | None] = None  # USD per cost unit, installed when the channel has no price
    destination_prices: ClassVar[bool] = False  # prices may depend on the destination's country prefix
    quiet_hours: ClassVar[bool] = False  # whether quiet hours apply (COMMHUB_QUIET_HOURS_CHANNELS overrides)
    feedback: ClassVar[Mapping[str, str]] = {}  # a provider's status word -> commhub's event (delivered, ...)

    def address_for(self, recipient: Any) -> str:
        """The recipient's address on this channel, or "" when it has none."""
        raise NotImplementedError

    def preload(self, recipients: Sequence[Any]) -> None:
        """Read at once what `address_for` needs for many recipients (a batch), when it is not on the recipient."""

    def normalize_address(self, address: str) -> str:
        """The canonical form of an address given by a person or a provider; raises django's ValidationError
        for one that cannot be an address on this channel."""
        return address.strip()

    def address_key(self, address: str) -> str:
        """How the suppression list spells an address (cheap: runs for every message)."""
        return address.strip()

    def content_problems(self, parts: Mapping[str, str]) -> dict[str, list[str]]:
        """What a template version's parts (name -> source) lack for this channel, by part; {} when nothing."""
        if "text" in self.parts and not parts.get("text"):
            return {"text": [f"A {self.name} message needs its text."]}
        return {}

    def rendered_problems(self, rendered: Any) -> dict[str, list[str]]:
        """What is wrong with a version's parts as rendered with its sample data (the webhook channel: a text that
        is not a JSON object), by part; {} when nothing. Checked when a version is saved."""
        return {}

    def text_report(self, text: str) -> tuple[dict[str, Any] | None, list[str]]:
        """What a preview shows about rendered text beyond the text itself (SMS: encoding and segments), and
        warnings for the author."""
        return None, []

    def units(self, text: str) -> int:
        """What a message with this rendered text counts for prices and paced senders."""
        return 1

    def extra_context(self, *, recipient_id: int, purpose: str, category: str, preview: bool) -> dict[str, Any]:
        """Template variables this channel adds to every message (e.g. marketing email's unsubscribe_url)."""
        return {}

    def finish(
        self, rendered: Any, *, extra: Mapping[str, Any], facts: tuple | None = None
    ) -> tuple[Any, dict[str, str]]:
        """The rendered message as sent, and the headers it carries (e.g. List-Unsubscribe). `facts` (from
        `finish_facts` of another rendering) replaces what finish would look up in `rendered` itself: a batch
        finishes its shared text as each recipient's own message would be finished."""
        return rendered, {}

    def finish_facts(self, rendered: Any, *, extra: Mapping[str, Any]) -> tuple:
        """What `finish` decides from the rendered text (e.g. whether it already shows the unsubscribe link)."""
        return ()

    def providers(self) -> Sender:
        """A new chain of the providers that carry this channel, from settings (one per sender thread)."""
        raise NotImplementedError(f"channel {self.name} has no provider")

    def __repr__(self) -> str:
        return f"<channel {self.name}>"


class RegisteredTargets(ChannelSpec):
    """A channel a person is reachable on once they registered something for it (browsers and devices for push,
    endpoints for webhooks): the address is their own id while they have one. Whether they do is read for a
    whole batch at once (`reachable`, a query or two) and kept on the recipient instance for the batch."""

    def reachable(self, recipient_ids: list[int]) -> set[int]:
        """Which of these recipients have at least one live registration."""
        raise NotImplementedError

    def preload(self, recipients: Sequence[Any]) -> None:
        mark = f"_{self.name}_reachable"
        todo = [r for r in recipients if mark not in r.__dict__]
        found = self.reachable([r.pk for r in todo if r.pk is not None])
        for r in todo:
            r.__dict__[mark] = r.pk in found

    def address_for(self, recipient: Any) -> str:
        if recipient.pk is None or not recipient.external_id:
            return ""
        mark = f"_{self.name}_reachable"
        if mark not in recipient.__dict__:
            self.preload([recipient])
        return recipient.external_id if recipient.__dict__[mark] else ""


_registered: dict[str, ChannelSpec] = {}
_loaded = False
_lock = threading.RLock()


def register(spec: ChannelSpec) -> ChannelSpec:
    """Add (or replace) a channel. Returns it, so a module can write `EMAIL = register(EmailChannel())`."""
    with _lock:
        _registered[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    with _lock:
        _registered.pop(name, None)


def configured_modules() -> list[str]:
    return list(getattr(settings, "COMMHUB_CHANNELS", []))


def configured_names() -> list[str]:
    """The configured channels' names without importing them (Celery declares its queues while Django is
    still starting): a channel module's last path component is its name."""
    return [path.rsplit(".", 1)[-1] for path in configured_modules()]


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for path in configured_modules():
            importlib.import_module(path)
            name = path.rsplit(".", 1)[-1]
            if name not in _registered:
                raise UnknownChannel(f"{path} did not register a channel named {name!r}")
        _loaded = True


def all_channels() -> list[ChannelSpec]:
    """Every channel, by name."""
    _load()
    return sorted(_registered.values(), key=lambda spec: spec.name)


def names() -> list[str]:
    return [spec.name for spec in all_channels()]


def in_queue_order() -> list[str]:
    """Every channel's name in the order a worker serves a tier's queues: the configured order (COMMHUB_CHANNELS),
    then the channels registered in code."""
    configured = configured_names()
    return [*configured, *(name for name in names() if name not in configured)]


def get(name: str) -> ChannelSpec:
    _load()
    try:
        return _registered[name]
    except KeyError:
        raise UnknownChannel(f"unknown channel {name!r}; channels: {', '.join(names())}") from None


def exists(name: str) -> bool:
    _load()
    return name in _registered


def preload(recipients: Sequence[Any], names: Collection[str] | None = None) -> None:
    """Let every channel (or those named) read what it needs to address these recipients, in a few queries for
    all of them."""
    if recipients:
        for spec in all_channels():
            if names is None or spec.name in names:
                spec.preload(recipients)


def choices() -> list[tuple[str, str]]:
    """For model and form fields (`choices=channels.choices`: evaluated when read, so a channel registered
    later is offered too)."""
    return [(spec.name, spec.label) for spec in all_channels()]
