"""How autopay behaves: when it retries a declined card, and how early it warns of a charge."""

from dataclasses import dataclass


@dataclass(frozen=True)
class AutopaySettings:
    # A declined charge is tried again this many days after the first try, then autopay stops for the invoice.
    retry_days: tuple[int, ...] = (1, 3, 7)
    # The advance notice ("prévenance") goes out this many days before the charge.
    notice_days: int = 3


def parse_retry_days(text: str) -> tuple[int, ...]:
    """"1,3,7" as (1, 3, 7): increasing whole days; `ValueError` otherwise."""
    days = tuple(int(part) for part in text.split(",") if part.strip())
    if any(day <= 0 for day in days) or list(days) != sorted(set(days)):
        raise ValueError(f"retry days must be increasing whole days, such as 1,3,7: {text!r}")
    return days
