"""How values travel in the engines' JSON: plain decimals, numbers, record ids (engine-neutral)."""
from decimal import Decimal
from urllib.parse import quote


def decimal_str(value):
    """``Decimal`` as plain wire text without float artefacts or exponent: ``"1.5"``, ``"-100"``."""
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def json_number(value):
    """A rate as a JSON number, integral where it can be: ``21`` or ``12.5``."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return int(value)
    return float(decimal_str(value))


def wire_id(value):
    """A record id as the engine sent it: a number when it is one."""
    text = str(value)
    return int(text) if text.isdigit() else text


def path_id(value):
    """A record id made safe for a URL path."""
    return quote(str(value), safe="")
