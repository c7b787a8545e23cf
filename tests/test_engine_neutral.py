"""One engine, one place: the shared code asks the capabilities and never names an engine.

Each engine's wire format, credentials, rules and UI live in its own files
(``engines/<engine>.py``, ``sandbox/<engine>.py``, ``models/invoice_engine_<engine>.py``,
its views and, for Fakturoid, its OAuth controller). This test reads every other source
file of the addon and fails on code (identifiers, strings, XML attributes and texts; not
comments or docstrings) that names an engine.
"""
import ast
import re
import unittest
from pathlib import Path
from xml.etree import ElementTree

from odoo.tests import tagged

from ..engines import CLIENT_CLASSES

ADDON = Path(__file__).resolve().parent.parent
# Where naming the engines is the point: the manifest, the registry of clients, the imports, and the
# one neutralisation script Odoo allows per module.
REGISTRIES = {"__manifest__.py", "engines/__init__.py", "models/__init__.py", "controllers/__init__.py", "data/neutralize.sql"}


def engine_names():
    names = set(CLIENT_CLASSES)
    names |= {client.capabilities.label.lower() for client in CLIENT_CLASSES.values()}
    return names


def own_files(name):
    """The files an engine owns, by their names."""
    return lambda relative: name in Path(relative).name.lower()


def code_strings(source):
    """Identifiers and string constants of a Python module, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value
        elif isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name


def xml_strings(source):
    for element in ElementTree.fromstring(source).iter():
        yield from element.attrib.values()
        yield element.text or ""


@tagged("post_install", "-at_install")
class TestSharedCodeNamesNoEngine(unittest.TestCase):

    def shared_files(self):
        owned = [own_files(name) for name in engine_names()]
        for path in sorted(ADDON.rglob("*")):
            relative = path.relative_to(ADDON).as_posix()
            if (path.suffix not in (".py", ".xml") or relative.startswith(("tests/", "sandbox/", "scripts/", "demo/", "."))
                    or relative in REGISTRIES or any(owns(relative) for owns in owned)):
                continue
            yield relative, path

    def test_no_engine_is_named_in_shared_code(self):
        pattern = re.compile("|".join(sorted(engine_names())), re.IGNORECASE)
        offenders = []
        for relative, path in self.shared_files():
            source = path.read_text(encoding="utf-8")
            strings = code_strings(source) if path.suffix == ".py" else xml_strings(source)
            offenders += [f"{relative}: {text.strip()[:80]!r}" for text in strings if pattern.search(text)]
        self.assertEqual(offenders, [], "shared code must ask the engine's capabilities instead")

    def test_the_check_sees_engine_names(self):
        self.assertIn("fakturoid", engine_names())
        self.assertEqual(set(code_strings('"""Fakturoid docs."""\nif engine_type == "fakturoid": pass\n')),
                         {"fakturoid", "engine_type"})
