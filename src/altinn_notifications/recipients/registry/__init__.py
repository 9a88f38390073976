"""The local registry file: import and export.

JSON (mirrors the answers of Altinn Profile):

    {"persons": [{"nationalIdentityNumber", "name", "email", "mobileNumber", "isReserved", "lastVerified"}],
     "organizations": [{"organizationNumber", "name", "emails": [], "mobileNumbers": [],
                        "users": [{"userId", "nationalIdentityNumber", "email", "mobileNumber",
                                   "resources": ["urn:altinn:resource:..."]}]}],
     "externalIdentities": [{"externalIdentity", "email", "mobileNumber"}]}

CSV (persons only), header `nationalIdentityNumber,name,email,mobileNumber,isReserved,lastVerified`.

Import validates every row; an invalid row is reported (path and reason, never the value: no NIN,
address or name is ever printed) and skipped, valid rows are upserted (a row replaces the stored row
with the same key; rows not in the file are kept unless `replace`). The file is read as a stream and
written in batches, so memory stays bounded however many rows (or users of one organisation) it holds;
the whole import is one transaction. Export writes the same shapes, streaming from the database.

Modules: `model` (formats, the file error, a parsed row), `entries` (validation of one entry),
`json_cursor` (a pull cursor over ijson), `json_reader` and `csv_reader` (rows from a file),
`importing` (batches, the import transaction), `export`. This package re-exports their public names.
"""

from altinn_notifications.recipients.registry.entries import (
    validate_external_identity,
    validate_organization,
    validate_person,
    validate_user,
)
from altinn_notifications.recipients.registry.export import ExportSummary, export_registry, person_document
from altinn_notifications.recipients.registry.importing import (
    DEFAULT_BATCH_SIZE,
    MAX_REPORTED_ERRORS,
    ImportProgress,
    ImportSummary,
    ProgressCallback,
    import_registry,
    import_registry_document,
    import_registry_file,
)
from altinn_notifications.recipients.registry.model import (
    CSV_COLUMNS,
    RegistryFileError,
    RegistryFormat,
    format_for_path,
)

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_BATCH_SIZE",
    "MAX_REPORTED_ERRORS",
    "ExportSummary",
    "ImportProgress",
    "ImportSummary",
    "ProgressCallback",
    "RegistryFileError",
    "RegistryFormat",
    "export_registry",
    "format_for_path",
    "import_registry",
    "import_registry_document",
    "import_registry_file",
    "person_document",
    "validate_external_identity",
    "validate_organization",
    "validate_person",
    "validate_user",
]
