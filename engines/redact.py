"""Keep secrets out of call records, log lines and error messages.

Everything an engine call leaves behind (``Exchange`` rows, ``logging`` lines,
error messages shown to users) goes through a ``Redactor`` first. It removes
the values of well-known secret keys wherever they appear (JSON at any depth,
query strings, form bodies, JSON-looking fragments of a truncated body) and,
belt and braces, every literal secret the caller handed to the HTTP call
(bearer token, Basic-auth password) should the engine echo it back.
"""
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
EXCERPT_LIMIT = 2000

SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "code",
        "token",
        "api_token",
        "password",
        "auth_header",  # Fakturoid webhooks: echoed back to us as an Authorization header
    }
)

_KEY_PATTERN = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
# ``key=value`` (query strings, form bodies) and ``"key": value`` (JSON that
# could not be parsed, e.g. cut in the middle). A bare ``code: 503`` in prose
# is left alone on purpose: it is not a key/value pair of a wire format.
_FORM_PAIR = re.compile(rf"(?i)(?<![\w.-])((?:{_KEY_PATTERN})=)([^&\s\"'<>]*)")
_JSON_PAIR = re.compile(
    rf"(?i)(\"(?:{_KEY_PATTERN})\"\s*:\s*)(\"(?:[^\"\\]|\\.)*\"?|[^,}}\]\s]+)"
)
_MIN_LITERAL_LENGTH = 4  # shorter "secrets" would mask innocent text


def is_secret_key(key):
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def redact_data(value):
    """Return a copy of decoded JSON with the value of every secret key masked."""
    if isinstance(value, dict):
        return {
            key: MASK if is_secret_key(key) and item not in (None, "") else redact_data(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return value


def summarize_binary(content, content_type=""):
    """Describe a binary body instead of copying it: ``<pdf 12345 bytes>``."""
    kind = "pdf" if content.startswith(b"%PDF") or "pdf" in content_type else "binary"
    return f"<{kind} {len(content)} bytes>"


def truncate(text, limit=EXCERPT_LIMIT):
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


class Redactor:
    """Masks secrets; ``literals`` are exact secret strings known for this call."""

    def __init__(self, literals=()):
        self.literals = sorted(
            {value for value in literals if value and len(value) >= _MIN_LITERAL_LENGTH},
            key=len,
            reverse=True,
        )

    def text(self, text):
        """Mask key/value pairs and known literals in free text."""
        if not text:
            return text
        text = _JSON_PAIR.sub(lambda match: f'{match.group(1)}"{MASK}"', text)
        text = _FORM_PAIR.sub(lambda match: f"{match.group(1)}{MASK}", text)
        for literal in self.literals:
            text = text.replace(literal, MASK)
        return text

    def url(self, url):
        parts = urlsplit(url)
        if not parts.query:
            return self.text(url)
        query = [
            (key, MASK if is_secret_key(key) else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return self.text(urlunsplit(parts._replace(query=urlencode(query, safe="/:"))))

    def data(self, data):
        """Render decoded JSON as a redacted, truncated excerpt."""
        if data is None:
            return ""
        rendered = json.dumps(redact_data(data), ensure_ascii=False, default=str, sort_keys=False)
        return truncate(self.text(rendered))

    def body(self, content, content_type=""):
        """Render a raw HTTP body (bytes) as a redacted, truncated excerpt."""
        if not content:
            return ""
        if _looks_binary(content, content_type):
            return summarize_binary(content, content_type)
        text = content.decode("utf-8", errors="replace")
        try:
            return self.data(json.loads(text))
        except ValueError:
            return truncate(self.text(text))


def _looks_binary(content, content_type):
    content_type = content_type.lower()
    if content.startswith(b"%PDF") or "pdf" in content_type:
        return True
    if content_type.startswith(("image/", "audio/", "video/")) or "octet-stream" in content_type:
        return True
    return b"\x00" in content[:1024]
