"""Czech, Slovak, Romanian and Polish cover every term of the template, which covers the code."""
import ast
import re
from pathlib import Path
from unittest import TestCase

from babel.messages.pofile import read_po

from odoo.tests import tagged

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "i18n" / "account_invoice_engine.pot"
LANGUAGES = ("cs", "sk", "ro", "pl")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd%]")
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")
SOURCE_FOLDERS = ("models", "wizard", "controllers")


def read_catalog(path):
    with path.open("rb") as file:
        return read_po(file)


def translated_terms_in_code():
    """The literal first argument of every _() / self.env._() call in the Odoo-side Python code."""
    terms = set()
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                    continue
                function = node.func
                name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
                if name in ("_", "_lt") and isinstance(node.args[0].value, str):
                    terms.add(node.args[0].value)
    return terms


@tagged("post_install", "-at_install")
class TestTranslations(TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = read_catalog(TEMPLATE)
        cls.template_ids = {message.id for message in cls.template if message.id}

    def test_the_template_holds_every_term_of_the_code(self):
        missing = sorted(translated_terms_in_code() - self.template_ids)
        self.assertFalse(missing, "refresh the template with bash scripts/i18n.sh; missing: %s" % missing[:5])

    def test_every_language_translates_every_term(self):
        for language in LANGUAGES:
            with self.subTest(language=language):
                catalog = read_catalog(ROOT / "i18n" / f"{language}.po")
                self.assertEqual(catalog.locale.language, language)
                translations = {message.id: message for message in catalog if message.id}
                missing = sorted(self.template_ids - set(translations))
                empty = sorted(msgid for msgid, message in translations.items()
                               if msgid in self.template_ids and (not message.string or message.fuzzy))
                self.assertFalse(missing, f"{language}.po lacks {len(missing)} terms, e.g. {missing[:3]}")
                self.assertFalse(empty, f"{language}.po leaves {len(empty)} terms untranslated, e.g. {empty[:3]}")

    def test_translations_keep_placeholders_and_markup(self):
        for language in LANGUAGES:
            catalog = read_catalog(ROOT / "i18n" / f"{language}.po")
            for message in catalog:
                if not (message.id and message.string):
                    continue
                with self.subTest(language=language, msgid=message.id[:60]):
                    self.assertEqual(sorted(PLACEHOLDER.findall(message.id)), sorted(PLACEHOLDER.findall(message.string)))
                    self.assertEqual(sorted(TAG.findall(message.id)), sorted(TAG.findall(message.string)))
