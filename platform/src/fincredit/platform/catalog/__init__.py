"""The public credit information catalog (R§6, G§7): versioned items with their field schemas,
disclosure and sharing attributes, validity periods and the financing-credit sharing list."""

from fincredit.platform.catalog._items import CatalogItemDef, add_years
from fincredit.platform.catalog._store import (
    REGISTRATION_ITEMS,
    change_catalog,
    current_version,
    ensure_catalog,
    get_item,
    get_version,
    items_of,
    list_versions,
    seed_default_catalog,
    set_sharing_list,
    version_by_id,
)

__all__ = [
    "REGISTRATION_ITEMS",
    "CatalogItemDef",
    "add_years",
    "change_catalog",
    "current_version",
    "ensure_catalog",
    "get_item",
    "get_version",
    "items_of",
    "list_versions",
    "seed_default_catalog",
    "set_sharing_list",
    "version_by_id",
]
