"""Helpers for the few hand-written statements (the claim, the batched outcome write, the policy check, the
batch insert)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache, partial
from operator import attrgetter
from typing import Any

import orjson
from django.conf import settings
from django.db import connections, models, router
from django.db.models import DEFERRED, F, Lookup
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.lookups import In
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init


def column(model: type[models.Model], name: str) -> str:
    """The quoted column of `model.name`, from model metadata (never from input)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a relation without a column")
    return f'"{field.column}"'


class AnyOf(Lookup):
    """`column = ANY(%s)` on PostgreSQL: a thousand values travel as one array parameter, where Django's `__in`
    prepares and compiles one placeholder per value; `IN (...)` on other databases."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        return compiler.compile(In(self.lhs, self.rhs))

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*params, self.rhs)


def any_of(field: str, values: Iterable[Any]) -> AnyOf | models.Q:
    """A filter: `field` is one of `values` (for a long list of them)."""
    values = list(values)
    return AnyOf(F(field), values) if values else models.Q(pk__in=[])


@cache
def _construction_plan(
    model: type[models.Model],
) -> tuple[dict[str, Any], list[tuple[str, Any]], list[tuple[str, str]], frozenset[str]]:
    """(constant defaults by attribute name, (attribute name, default callable) pairs, (relation, its id's name)
    pairs, every name a caller may pass)."""
    constants: dict[str, Any] = {}
    per_row: list[tuple[str, Any]] = []
    relations: list[tuple[str, str]] = []
    for f in model._meta.concrete_fields:
        if f.is_relation:
            relations.append((f.name, f.attname))
        if f.has_default() and callable(f.default):
            per_row.append((f.attname, f.default))
        else:
            constants[f.attname] = f.get_default()
    known = frozenset(constants) | {attname for attname, _ in per_row} | {name for name, _ in relations}
    return constants, per_row, relations, known


def row_new(model: type[models.Model], **values: Any) -> Any:
    """A new unsaved instance holding what `model(**values)` would (related objects passed as objects are cached
    on it), at a fraction of the cost: the defaults are worked out once per model and the attributes set in one
    go. It sends no pre_init/post_init signal (commhub connects none; the test checks). For the batch submit,
    which builds a thousand rows per request."""
    constants, per_row, relations, known = _construction_plan(model)
    if not values.keys() <= known:
        raise TypeError(f"{model.__name__} has no field(s) {', '.join(sorted(values.keys() - known))}")
    state = ModelState()
    cache = state.fields_cache
    attrs = constants.copy()
    for attname, default in per_row:
        if attname not in values:
            attrs[attname] = default()
    for name, attname in relations:
        if name in values:
            obj = values.pop(name)
            attrs[attname] = None if obj is None else obj.pk
            cache[name] = obj
    attrs.update(values)
    instance = model.__new__(model)
    attrs["_state"] = state
    instance.__dict__ = attrs
    return instance


@cache
def _insert_columns(model: type[models.Model]) -> tuple[str, list[Any], list[Any], str]:
    """(the quoted column list, the concrete fields in that order, those stamped on insert (auto_now(_add)), the
    one-row INSERT statement), from model metadata once per model."""
    fields = list(model._meta.concrete_fields)
    stamped = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return columns, fields, stamped, f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES ({marks})'  # noqa: S608


def row_insert(obj: models.Model) -> None:
    """INSERT one new instance (primary key set): what `obj.save(force_insert=True)` sends, from a statement built
    once per model instead of compiled per call. Like `rows_insert`, it sends no pre_save/post_save signal."""
    model = type(obj)
    connection = connections[router.db_for_write(model)]
    _, fields, stamped, insert = _insert_columns(model)
    if getattr(obj, model._meta.pk.attname) is None:
        raise ValueError(f"row_insert needs {model.__name__}'s primary key set before the insert")
    for f in stamped:
        f.pre_save(obj, add=True)
    params = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(insert, params)
    obj._state.adding = False
    obj._state.db = connection.alias


@cache
def _select_statement(
    model: type[models.Model], field: str, many: bool, also: tuple[str, ...]
) -> tuple[str, list[Any]]:
    fields = list(model._meta.concrete_fields)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    where = model._meta.get_field(field).column  # type: ignore[union-attr]
    match = f'"{where}" = ANY(%s)' if many else f'"{where}" = %s'
    for name in also:
        match += f' AND "{model._meta.get_field(name).column}" = %s'  # type: ignore[union-attr]
    if not many:
        match += " LIMIT 2"
    return f'SELECT {columns} FROM "{model._meta.db_table}" WHERE {match}', fields  # noqa: S608 (metadata)


@cache
def _plain_loading(model: type[models.Model]) -> bool:
    """Whether an instance of `model` read from the database is just its fields' values in its `__dict__`: no
    `__init__` or `from_db` of its own, no descriptor that does more than store a value (a file field's), no
    pre_init/post_init listener (a test checks commhub connects none)."""
    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    return (
        model.__init__ is models.Model.__init__
        and model.from_db.__func__ is models.Model.from_db.__func__  # type: ignore[attr-defined]
        and all(type(model.__dict__.get(f.attname)) in plain for f in model._meta.concrete_fields)
        and not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
    )


def _fetched(connection: Any, sql: str, params: Sequence[Any]) -> list[tuple]:
    """The rows of `sql`. On PostgreSQL with the session in UTC (Django's own setting where USE_TZ), timestamps are
    read by psycopg's own loader, which gives the very datetimes Django's does (UTC, `datetime.timezone.utc`): Django
    registers a Python subclass of it that parses each one with a regular expression and replaces its zone (5 us per
    timestamp, against 0.3: 2,000 of them in a batch submit's recipients)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and settings.USE_TZ and connection.timezone_name == "UTC":
            cursor.cursor.adapters.register_loader("timestamptz", _psycopg_timestamptz_loader())
        cursor.execute(sql, params)
        return cursor.fetchall()


@cache
def _psycopg_timestamptz_loader() -> type:
    import psycopg  # PostgreSQL only, like fetch_binary

    loader = psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT)
    assert loader is not None  # psycopg's own, always registered
    return loader


def _converting(model: type[models.Model], connection: Any, fields: list[Any]) -> list[tuple[int, Any, list[Any]]]:
    table = model._meta.db_table
    converting = []
    for i, f in enumerate(fields):
        col = f.get_col(table)
        converters = [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]
        if converters:
            converting.append((i, col, converters))
    return converting


def _instances(model: type[models.Model], connection: Any, fields: list[Any], rows: list[tuple]) -> list[Any]:
    """Model instances from fetched rows, each field's converters applied as the ORM applies them: what
    `model.from_db` builds (the fields not fetched deferred), without running `Model.__init__` over every field
    where the model's loading is plain (a test compares both): 50 fields walked per claimed notification."""
    converting = _converting(model, connection, fields)
    names = [f.attname for f in fields]
    plain = _plain_loading(model)
    concrete = [f.attname for f in model._meta.concrete_fields]
    # from_db takes the values in the model's field order, the fields not fetched as DEFERRED
    slots = None if plain or names == concrete else [concrete.index(name) for name in names]
    alias = connection.alias
    instances = []
    for row in rows:
        values = list(row)
        for i, col, converters in converting:
            for convert in converters:
                values[i] = convert(values[i], col, connection)
        if plain:
            instance = model.__new__(model)
            instance.__dict__.update(zip(names, values, strict=True))
            state = instance._state = ModelState()
            state.adding, state.db = False, alias
            instances.append(instance)
            continue
        if slots is not None:
            placed: list[Any] = [DEFERRED] * len(concrete)
            for slot, value in zip(slots, values, strict=True):
                placed[slot] = value
            values = placed
        instances.append(model.from_db(alias, concrete, values))
    return instances


def instances_from(model: type[models.Model], names: Sequence[str], sql: str, params: Sequence[Any]) -> list[Any]:
    """Instances of `model` from a hand-written statement returning the columns of the fields `names`, in that
    order (the others deferred), with the fields' converters applied: what `model.objects.raw(sql, params)` gives,
    without the raw queryset's per-call column resolution and per-row annotation handling."""
    connection = connections[router.db_for_read(model)]
    fields = [model._meta.get_field(name) for name in names]
    return _instances(model, connection, fields, _fetched(connection, sql, params))


def row_by(model: type[models.Model], field: str, value: Any, **also: Any) -> Any:
    """The instance whose unique `field` equals `value` (and each of `also`'s fields its value, e.g. the
    organisation), or None: what `model._base_manager.filter(field=value, **also).first()` returns (the fields'
    own converters applied), from a statement built once per model and fields. For the single send, where
    compiling the ORM query cost more CPU than PostgreSQL spends answering it."""
    connection = connections[router.db_for_read(model)]
    sql, fields = _select_statement(model, field, False, tuple(also))
    rows = _fetched(connection, sql, [value, *also.values()])
    if len(rows) > 1:
        raise ValueError(f"{model.__name__}.{field} is not unique")
    return _instances(model, connection, fields, rows)[0] if rows else None


def rows_by(model: type[models.Model], field: str, values: Iterable[Any], **also: Any) -> list[Any]:
    """The instances whose `field` is one of `values` (and each of `also`'s fields its value), in one statement
    built once per model and fields (one array parameter on PostgreSQL; the ORM's `__in` elsewhere)."""
    values = list(values)
    connection = connections[router.db_for_read(model)]
    if not values:
        return []
    if connection.vendor != "postgresql":
        return list(model._base_manager.filter(**{f"{field}__in": values}, **also))
    sql, fields = _select_statement(model, field, True, tuple(also))
    return _instances(model, connection, fields, _fetched(connection, sql, [values, *also.values()]))


def json_bytes(value: Any) -> bytes | str:
    """`value` as a JSON document: orjson where it gives what `json.dumps` gives PostgreSQL to store (a tenth of the
    CPU for a decision trace), `json.dumps` for anything orjson refuses or would turn into something else:
    integers past 64 bits, keys that are not strings, str/int/dict subclasses, datetimes, dataclasses."""
    try:
        return orjson.dumps(value, option=_ORJSON_STRICT)
    except TypeError:
        return json.dumps(value)


_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


@cache
def _copy_plan(model: type[models.Model], alias: str) -> tuple[list[str] | None, Callable, list[tuple[int, Any]]]:
    """How to COPY `model`'s insert columns: each column's PostgreSQL type for a binary COPY (None: a text COPY,
    where a column's type is not a plain one psycopg sends in binary (arrays, custom types) or datetimes are
    naive), a getter of an instance's values in column order, and each JSON column's (position, encoder)."""
    from psycopg.postgres import types as pg_types  # PostgreSQL only, like fetch_binary

    connection = connections[alias]
    _, fields, _, _ = _insert_columns(model)
    types: list[str] | None = [] if settings.USE_TZ else None
    for f in fields:
        declared = f.db_type(connection) or ""
        info = None if "[" in declared else pg_types.get(re.sub(r"\(.*?\)", "", declared).strip())
        if info is None or types is None:
            types = None
            break
        types.append(info.name)
    json_columns = [(i, f.encoder) for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    return types, attrgetter(*(f.attname for f in fields)), json_columns


def rows_insert(model: type[models.Model], objs: Sequence[models.Model], *, batch_size: int = 500) -> None:
    """Insert new instances of `model` (primary keys already set, e.g. UUID defaults): one COPY on PostgreSQL,
    `bulk_create` elsewhere. Like `bulk_create`, it sends no signals. COPY is the cheapest way in for a batch:
    Django 5.2's `bulk_create` passes one array per column, which the client-side binding quotes element by
    element (more time than the insert itself for a thousand rows). The COPY is binary with each column's type
    fixed up front, so no value is turned into text and parsed back (25 -> 11 ms of CPU for 1,000 notifications)."""
    if not objs:
        return
    pk = model._meta.pk.attname
    if any(getattr(obj, pk) is None for obj in objs):
        raise ValueError(f"rows_insert needs {model.__name__}'s primary keys set before the insert")
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs, batch_size=batch_size)
        return
    from psycopg.types.json import Jsonb  # PostgreSQL only, like fetch_binary

    columns, _, stamped, _ = _insert_columns(model)
    types, values_of, json_columns = _copy_plan(model, connection.alias)
    encoders: list[tuple[int, Callable[[Any], Any]]]
    if types is None:  # text: each JSON value as the document json.dumps writes
        encoders = [(i, partial(_json_text, encoder=encoder)) for i, encoder in json_columns]
    else:  # binary: typed jsonb
        encoders = [(i, partial(Jsonb, dumps=_json_dumps(encoder))) for i, encoder in json_columns]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN' + (" (FORMAT BINARY)" if types else "")
        ) as copy,
    ):
        if types:
            copy.set_types(types)
        for obj in objs:
            for f in stamped:
                f.pre_save(obj, add=True)
            row = list(values_of(obj))
            for i, encode in encoders:
                row[i] = encode(row[i])
            copy.write_row(row)


def _json_text(value: Any, *, encoder: type[json.JSONEncoder] | None) -> str:
    return json.dumps(value, cls=encoder)


def _json_dumps(encoder: type[json.JSONEncoder] | None) -> Callable[[Any], bytes | str]:
    """The jsonb encoding of a JSONField: orjson where it writes what json.dumps would (`json_bytes`), the field's
    own encoder where it has one."""
    return json_bytes if encoder is None else partial(_json_text, encoder=encoder)


def fetch_binary(connection: Any, sql: str, params: Sequence[Any]) -> list[tuple]:
    """Run `sql` on PostgreSQL with its parameters bound by the server in binary form (`%b` placeholders) and
    return its rows. Django's psycopg cursors bind on the client: each parameter becomes a quoted literal, and
    an array of rendered HTML is quoted character by character (11 ms of CPU for 32 sent emails' records, against
    0.15 ms in binary). Errors come as Django's, as from `connection.cursor()`. Never a server-side prepared
    statement (`prepare=False`): a transaction-mode connection pooler in front of PostgreSQL (PgBouncer) would
    send the next execution to a server that never saw it."""
    from psycopg import Cursor  # PostgreSQL only: SQLite's installs need not import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=False)
        return cursor.fetchall() if cursor.description else []
