"""Counted nouns for messages: "1 generation", "2 generations"."""


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else many or noun + 's'}"
