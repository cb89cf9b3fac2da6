"""Django's message storage, with every message made a sentence as it is added: a page
that shows several one after another ("Already in sync." "Director reachable again.")
never runs them together, whichever view wrote them and however."""
from django.contrib.messages.storage.fallback import FallbackStorage

from .validators import sentence


class SentenceStorage(FallbackStorage):
    def add(self, level, message, extra_tags=""):
        if isinstance(message, str):
            message = sentence(message)
        super().add(level, message, extra_tags)
