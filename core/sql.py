"""The reply path's few statements, built once from the models and run as raw SQL.

Django's ORM compiles every query anew. Measured on this project's machines: a SELECT of
a message by id costs about 400 µs, an INSERT about 200 µs and an UPDATE 100-180 µs of
CPU, nearly all of it compiling; SQLite runs the same statement in about 20 µs. A reply
makes about ten of them. The functions here build each statement's SQL once per model
and field set (`INSERT` by Django's own compiler; `SELECT` and `UPDATE` from the models'
table and column names, quoted by the backend: standard SQL that SQLite and PostgreSQL
both run) and execute it on Django's cursor, so connections, transactions and error
wrapping are Django's. Values go in through each field's `get_db_prep_save` and come out
through the backend's and the field's converters, as with the ORM. Not done here: signals
and `save()` overrides (the models written here have none), expressions as values.

Everything is synchronous; call it where an ORM call would go (inside `sync_to_async`,
typically inside `transaction.atomic()`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.db import connections, models
from django.db.models.sql import InsertQuery

M = TypeVar("M", bound=models.Model)


def _fields(model: type[models.Model], names: Iterable[str]) -> tuple[models.Field, ...]:
    get = model._meta.get_field
    return tuple(get(name) for name in names)


@functools.cache  # pure: SQL text from static model metadata and the backend's quoting
def _select_sql(model: type[models.Model], where: tuple[str, ...], nulls: tuple[bool, ...], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    conditions = " AND ".join(f"{quote(f.column)} IS NULL" if null else f"{quote(f.column)} = %s"
                              for f, null in zip(_fields(model, where), nulls, strict=True))
    return f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {conditions}"


@functools.cache  # pure, as above
def _exists_sql(model: type[models.Model], where: tuple[str, ...], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    conditions = " AND ".join(f"{quote(f.column)} = %s" for f in _fields(model, where))
    return f"SELECT 1 FROM {quote(model._meta.db_table)} WHERE {conditions} LIMIT 1"


@functools.cache  # pure, as above
def _converters(model: type[models.Model], alias: str) -> tuple[tuple[Any, list[Any]], ...]:
    """Per concrete field: its column expression and the converters of its values (the
    backend's and the field's), as the ORM's compiler finds them. The backend's converters
    are the same for every connection of an alias (they read its settings only)."""
    connection = connections[alias]
    found = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        found.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
    return tuple(found)


@functools.cache  # pure, as above
def _update_sql(model: type[models.Model], fields: tuple[str, ...], where: tuple[str, ...], nulls: tuple[bool, ...],
                alias: str) -> str:
    quote = connections[alias].ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in _fields(model, fields))
    conditions = " AND ".join(f"{quote(f.column)} IS NULL" if null else f"{quote(f.column)} = %s"
                              for f, null in zip(_fields(model, where), nulls, strict=True))
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {conditions}"


@functools.cache  # pure, as above
def _insert_sql(model: type[models.Model], alias: str) -> str:
    query = InsertQuery(model)
    query.insert_values(list(model._meta.concrete_fields), [model()])
    ((sql, _params),) = query.get_compiler(alias).as_sql()
    return sql


def _prep(field: models.Field, value: Any, connection: Any) -> Any:
    if isinstance(field, models.ForeignKey) and isinstance(value, models.Model):
        value = value.pk
    return field.get_db_prep_save(value, connection=connection)


def fetch_one(model: type[M], *, where: dict[str, Any], using: str = "default") -> M | None:
    """The row of `model` whose fields equal `where` (`{field name or attname: value}`;
    None compares with IS NULL), as a model instance, or None. Every concrete field is read."""
    connection = connections[using]
    names = tuple(where)
    fields = _fields(model, names)
    values = [_prep(f, v, connection) if v is not None else None for f, v in zip(fields, where.values(), strict=True)]
    sql = _select_sql(model, names, tuple(v is None for v in values), using)
    with connection.cursor() as cursor:
        cursor.execute(sql, [v for v in values if v is not None])
        row = cursor.fetchone()
    if row is None:
        return None
    converted = []
    for (column, converters), value in zip(_converters(model, using), row, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(using, [f.attname for f in model._meta.concrete_fields], converted)


def exists(model: type[models.Model], *, where: dict[str, Any], using: str = "default") -> bool:
    """Whether a row of `model` has fields equal to `where` (no None values)."""
    connection = connections[using]
    names = tuple(where)
    params = [_prep(f, v, connection) for f, v in zip(_fields(model, names), where.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(_exists_sql(model, names, using), params)
        return cursor.fetchone() is not None


def insert(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """INSERT each of `objs` (instances of one model, primary keys set by their defaults),
    with every concrete field; `auto_now`/`auto_now_add` fields are filled as `save()` does."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[using]
    sql = _insert_sql(model, using)
    concrete = model._meta.concrete_fields
    with connection.cursor() as cursor:
        for obj in objs:
            cursor.execute(sql, [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in concrete])
            obj._state.adding = False
            obj._state.db = using


def update(model: type[models.Model], *, values: dict[str, Any], where: dict[str, Any], using: str = "default") -> int:
    """UPDATE the rows of `model` whose fields equal `where` (None: IS NULL) with `values`
    (`{field name or attname: value}`); returns the number of rows changed. `auto_now`
    fields are not touched unless given, as with `QuerySet.update`."""
    connection = connections[using]
    set_fields = _fields(model, tuple(values))
    where_fields = _fields(model, tuple(where))
    params = [_prep(f, v, connection) for f, v in zip(set_fields, values.values(), strict=True)]
    conditions = [_prep(f, v, connection) if v is not None else None for f, v in zip(where_fields, where.values(), strict=True)]
    sql = _update_sql(model, tuple(values), tuple(where), tuple(v is None for v in conditions), using)
    with connection.cursor() as cursor:
        cursor.execute(sql, params + [v for v in conditions if v is not None])
        return cursor.rowcount
