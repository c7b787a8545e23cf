"""How an engine turns the lines it receives into a document's amounts.

Odoo and the engine must agree to the cent on the untaxed amount, the VAT per rate and
the total (DESIGN §2, "Totals equal to the cent"). Each client states its ``arithmetic``:
which wire lines it sends for one neutral ``Line`` and how the engine rounds them. The
models layer asks it for the engine's figures before posting and aligns Odoo's tax lines
with them; shared code never needs to know which engine it is talking to.

Every amount here is a positive document-currency ``Decimal``: credit notes are computed
as invoices, which is exact because half-up rounding is symmetric around zero.
"""
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(value):
    """Half up, away from zero, to cents: what Odoo's ``float_round`` and the engines do."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class WirePart:
    """One line as the engine receives it."""

    quantity: Decimal
    unit_price: Decimal
    rate: Decimal  # VAT percent
    is_adjustment: bool = False  # the discount or rounding line that follows a listed line

    @property
    def net(self):
        return cents(self.quantity * self.unit_price)


def listed_line_and_adjustment(line):
    """The line at its list price, then one line of quantity 1 carrying the difference to
    the net Odoo booked: the discount, or the cent Odoo's global rounding put on the line.

    The parts always add up to ``line.subtotal``, so the engine's untaxed amount is Odoo's.
    """
    listed = WirePart(line.quantity, line.unit_price, line.tax.rate)
    difference = line.subtotal - listed.net
    if not difference:
        return (listed,)
    return listed, WirePart(Decimal(1), difference, line.tax.rate, is_adjustment=True)


@dataclass(frozen=True)
class Totals:
    """A document's amounts as the engine computes them."""

    untaxed: Decimal
    vat_by_rate: dict = field(default_factory=dict)  # Decimal rate -> Decimal VAT

    @property
    def vat(self):
        return sum(self.vat_by_rate.values(), Decimal(0))

    @property
    def total(self):
        return self.untaxed + self.vat


class Arithmetic:
    """Base class: wire parts per line (``split``), nets rounded to cents, VAT by ``_vat``."""

    description = ""  # shown to the accountant in the rounding note

    def __init__(self, split=listed_line_and_adjustment):
        self.split = split

    def parts(self, lines):
        return [part for line in lines for part in self.split(line)]

    def totals(self, lines):
        nets_by_rate = {}
        for part in self.parts(lines):
            nets_by_rate.setdefault(part.rate, []).append(part.net)
        return Totals(
            untaxed=sum((sum(nets) for nets in nets_by_rate.values()), Decimal(0)),
            vat_by_rate={rate: self._vat(rate, nets) for rate, nets in nets_by_rate.items()},
        )

    def _vat(self, rate, nets):
        raise NotImplementedError


class VatPerRate(Arithmetic):
    """Each line's net rounded to cents; VAT once per rate on the sum of those nets."""

    description = "VAT computed once per rate on the rounded lines"

    def _vat(self, rate, nets):
        return cents(sum(nets, Decimal(0)) * rate / 100)


class VatPerLine(Arithmetic):
    """Each line's net rounded to cents, its VAT rounded to cents; the document sums them."""

    description = "VAT rounded on each line"

    def _vat(self, rate, nets):
        return sum((cents(net * rate / 100) for net in nets), Decimal(0))


@dataclass(frozen=True)
class Alignment:
    """What Odoo must change so that its figures are the engine's, or why it cannot."""

    engine: Totals
    vat_adjustments: dict  # Decimal rate -> Decimal to add to Odoo's VAT at that rate
    problems: tuple = ()


def align(arithmetic, lines, untaxed, vat_by_rate, lines_by_rate=None):
    """Compare Odoo's ``untaxed`` and ``vat_by_rate`` with the engine's for the same ``lines``.

    Odoo's VAT may move by rounding only: at most a cent per line at that rate, plus one for the
    rate's own rounding. A larger gap is not rounding (a wrong VAT-rate mapping, a fixed tax)
    and is returned as a problem, as is any difference in the untaxed amount, which the wire
    lines reproduce by construction.
    """
    engine = arithmetic.totals(lines)
    problems = []
    if engine.untaxed != untaxed:
        problems.append(("untaxed", None, untaxed, engine.untaxed))
    lines_by_rate = lines_by_rate or {}
    adjustments = {}
    for rate in sorted(set(engine.vat_by_rate) | set(vat_by_rate), reverse=True):
        odoo_vat = vat_by_rate.get(rate, Decimal(0))
        engine_vat = engine.vat_by_rate.get(rate, Decimal(0))
        if odoo_vat == engine_vat:
            continue
        if abs(engine_vat - odoo_vat) > CENT * (lines_by_rate.get(rate, 0) + 1):
            problems.append(("vat", rate, odoo_vat, engine_vat))
        else:
            adjustments[rate] = engine_vat - odoo_vat
    return Alignment(engine=engine, vat_adjustments=adjustments, problems=tuple(problems))


# -- what each engine documents ----------------------------------------------
#
# Each client states its arithmetic in ``capabilities.arithmetic`` (Fakturoid's is in
# engines/fakturoid.py). What the vendors document, for the clients still to come:
#
# SmartBill (smartbill-openapi.json, "Folosirea cotelor TVA"): "TVA = Price * taxPercentage"
# per product, at the document's ``precision`` (2 by default). A discount is its own
# ``isDiscount`` product with a fixed value (discountType 1) at the rate of the line it
# follows, so it gets its own VAT. The rounding mode is not documented: half up is the
# conservative reading (Romanian commercial rounding, and what Odoo does): ``VatPerLine``.
#
# Fakturownia (fakturownia-api-README.md, ``calculating_strategy``): the client will pin
# ``{"position": "default", "sum": "sum"}``: each position's amounts are computed on their
# own and the document sums the positions. The exact position rounding is not documented;
# the conservative reading is net rounded to cents, then VAT on that net rounded to cents
# (``VatPerLine``). A discount is sent as a negative position (``discount_percent`` is
# silently ignored unless the account's discount setting matches), so discounts take the
# same path as Fakturoid's.
