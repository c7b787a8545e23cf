"""Values as the sandboxes read and answer them: decimals, dates, ids, validation errors.

Engine-neutral; each engine sandbox keeps its own wording of the errors.
"""
import re
from datetime import date, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def to_decimal(value):
    """Decimal from a JSON number or numeric string; raises ``ValueError`` otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise ValueError(value) from error
    if not result.is_finite():
        raise ValueError(value)
    return result


def cents(value):
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def decimal_string(value):
    """Ruby ``BigDecimal#to_s`` style, as Rails applications answer: "48400.0", "0.5", "-12.34"."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value)}.0"
    return format(value.normalize(), "f")


def parse_date(value):
    """``date`` from "YYYY-MM-DD"; raises ``ValueError``."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError(value)
    return date.fromisoformat(value.strip())


def as_int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class Errors(dict):
    """``{"field": ["message", ...]}`` collected while validating."""

    def add(self, field_name, message):
        messages = self.setdefault(field_name, [])
        if message not in messages:
            messages.append(message)


def time_zone(name):
    """The engine's home time zone, or UTC on a machine without a tz database."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        return timezone.utc
