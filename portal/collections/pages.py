"""One page of a longer list: the rows shown, how many there are in all, where we are."""

from dataclasses import dataclass
from typing import Generic, TypeVar

Row = TypeVar("Row")

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    total_count: int
    page: int
    per_page: int

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total_count // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count


def page_within(asked: int, total_count: int, per_page: int) -> int:
    """The page asked for, or the last one when it asks beyond the end (a list that shrank meanwhile)."""
    return max(1, min(asked, -(-total_count // per_page)))
