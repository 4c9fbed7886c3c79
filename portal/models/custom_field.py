from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


class CustomFieldLabel(Base):
    """What the supplier calls one of its invoices' custom fields, in one language ("cost_centre" -> "Centre de coût")."""

    __tablename__ = "custom_field_label"
    __table_args__ = (
        UniqueConstraint("field_key", "locale", name="uq_custom_field_label_key_locale"),
        CheckConstraint("locale IN ('fr', 'en')", name="locale_supported"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    field_key: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(5))
    label: Mapped[str] = mapped_column(String(100))
