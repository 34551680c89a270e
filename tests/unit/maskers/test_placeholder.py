"""Tests for redactor.maskers.placeholder."""

from __future__ import annotations

import pytest

from redactor.maskers import REDACTED, Placeholder


class TestPlaceholder:
    @pytest.mark.parametrize("value", ["123", "4111111111111111", "", "[REDACTED]"])
    def test_default_text_replaces_any_value(self, value):
        """The default placeholder is ``[REDACTED]`` whatever the value."""
        assert Placeholder()(value) == "[REDACTED]"
        assert REDACTED == "[REDACTED]"

    def test_custom_text(self):
        """A custom placeholder text is returned verbatim."""
        assert Placeholder("[cvv]")("123") == "[cvv]"

    def test_idempotent(self):
        """Masking the placeholder yields the placeholder."""
        mask = Placeholder("[card]")
        assert mask(mask("4111111111111111")) == "[card]"

    def test_frozen(self):
        """Placeholders are immutable values."""
        mask = Placeholder()
        with pytest.raises(AttributeError):
            mask.text = "oops"  # type: ignore[misc]
