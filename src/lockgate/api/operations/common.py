"""Pieces every resource's operations share: list paging, the page envelope, name patterns."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, Field

from lockgate.api.operation import Input
from lockgate.domain.declaration import NAME
from lockgate.store.records import MAX_PAGE

T = TypeVar("T")

Name = Annotated[str, Field(pattern=NAME, description="A unique name: letters, digits, '_', '.', '-'.")]
RowId = Annotated[int, Field(ge=1, le=2**31 - 1, description="A numeric id, as listings show it.")]


class ListInput(Input):
    """Keyset pagination: pass the previous page's ``next_cursor`` to get the next one."""

    cursor: str | None = Field(None, max_length=512, description="From the previous page's next_cursor.")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description="Items per page.")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None
