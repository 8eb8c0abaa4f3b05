"""Re-seal every secret under a new key, in one transaction (``rotate-key``).

The sealed columns are read and written as raw text (not through the models) so that no
row is ever decoded with the wrong key. Either every value moves to the new key or none
does; a value sealed with neither key stops the rotation with a clear error.
"""

from __future__ import annotations

import peewee as pw

from .models import sealed_columns
from .sealing import Sealer, SealingError


def rotate(db: pw.Database, old: Sealer, new: Sealer) -> int:
    """Re-seal all secrets from ``old`` to ``new``; return how many values moved."""
    moved = 0
    with db.atomic():
        for model, field in sealed_columns():
            table = model._meta.table_name
            column = field.column_name
            context = f"{table}.{column}"
            pk = model._meta.primary_key.column_name
            rows = db.execute_sql(
                f'SELECT "{pk}", "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall()
            for row_id, sealed in rows:
                if new.sealed_by_me(sealed):
                    continue  # already moved (a rotation re-run after an interruption)
                try:
                    plain = old.open(sealed, context)
                except SealingError as exc:
                    raise SealingError(f"{table} row {row_id}: {exc}") from None
                db.execute_sql(
                    f'UPDATE "{table}" SET "{column}" = {db.param} WHERE "{pk}" = {db.param}',
                    (new.seal(plain, context), row_id),
                )
                moved += 1
    return moved
