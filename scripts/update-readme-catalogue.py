"""Rewrite the README's event catalogue from the code (run after changing shared/events)."""
from pathlib import Path

from shared.events import CATALOGUE

START, END = "<!-- catalogue:start -->\n", "<!-- catalogue:end -->"
readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
a, b = text.index(START) + len(START), text.index(END)
readme.write_text(text[:a] + CATALOGUE.markdown() + text[b:])
print("README catalogue updated:", len(CATALOGUE.types), "event types")
