"""Attachment rules of the composed email: file name, SAS URL, MIME type, validity window.

SAS URLs are secrets: every message names the attachment's filename, never its URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from altinn_notifications.chains.models import SasFileReferenceExt
from altinn_notifications.orders.rules import (
    LATEST_SEND_TIME,
    MAX_URL_LENGTH,
    ValidationErrors,
    add,
    as_utc,
    check_length,
    is_blank,
)

__all__ = ["ALLOWED_MIME_TYPES", "sas_expiry", "sas_query", "validate_attachments"]

MSG_ATTACHMENT_FILENAME_EMPTY: Final = "Attachment filename must not be empty."
# Attachment messages name the file: format with `filename=`.
MSG_ATTACHMENT_FILENAME: Final = (
    "Attachment '{filename}': filename must not contain path separators, and must include a file extension."
)
MSG_SAS_HTTPS: Final = "Attachment '{filename}': sasUrl must be an absolute HTTPS URI."
MSG_SAS_HOST: Final = (
    "Attachment '{filename}': sasUrl host must be within Azure Blob Storage (*.blob.core.windows.net)."
)
MSG_SAS_PARAMETERS: Final = (
    "Attachment '{filename}': sasUrl is missing required SAS parameters (se, sig, sp, sr)."
)
MSG_SAS_EXPIRY: Final = "Attachment '{filename}': sasUrl has an invalid 'se' (signed expiry) value."
MSG_SAS_READ: Final = (
    "Attachment '{filename}': sasUrl does not grant read permission ('r' must be present in 'sp')."
)
MSG_SAS_VALIDITY: Final = (
    "Attachment '{filename}': sasUrl must be valid for at least 15 minutes after requestedSendTime."
)
MSG_MIME_EMPTY: Final = "Attachment '{filename}': mimeType must not be empty."
MSG_MIME_UNSUPPORTED: Final = (
    "Attachment '{filename}': mimeType is not supported. Refer to ACS documentation for the list of "
    "accepted MIME types."
)

SAS_MIN_VALIDITY: Final = timedelta(minutes=15)

# The MIME types Azure Communication Services accepts for email attachments (compared case-insensitively).
ALLOWED_MIME_TYPES: Final = frozenset(
    {
        "video/3gpp",
        "video/3gpp2",
        "application/x-7z-compressed",
        "audio/aac",
        "video/x-msvideo",
        "image/bmp",
        "text/csv",
        "application/msword",
        "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-fontobject",
        "application/epub+zip",
        "image/gif",
        "application/gzip",
        "image/vnd.microsoft.icon",
        "text/calendar",
        "image/jpeg",
        "application/json",
        "audio/midi",
        "audio/mpeg",
        "video/mp4",
        "video/mpeg",
        "audio/ogg",
        "video/ogg",
        "application/ogg",
        "application/onenote",
        "audio/opus",
        "font/otf",
        "application/pdf",
        "image/png",
        "application/vnd.ms-powerpoint.slideshow.macroenabled.12",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
        "application/vnd.ms-powerpoint",
        "application/vnd.ms-powerpoint.presentation.macroenabled.12",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-publisher",
        "application/x-rar-compressed",
        "application/vnd.ms-outlook",
        "application/rtf",
        "image/svg+xml",
        "application/x-tar",
        "image/tiff",
        "font/ttf",
        "text/plain",
        "application/vnd.visio",
        "audio/wav",
        "audio/webm",
        "video/webm",
        "image/webp",
        "audio/x-ms-wma",
        "video/x-ms-wmv",
        "font/woff",
        "font/woff2",
        "application/vnd.ms-excel",
        "application/vnd.ms-excel.sheet.binary.macroenabled.12",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/xml",
        "text/xml",
        "application/zip",
    }
)


def validate_attachments(
    attachments: Sequence[SasFileReferenceExt], prefix: str, send_time: datetime, errors: ValidationErrors
) -> None:
    """Each attachment's own rules, then whether its SAS URL outlives the send time by 15 minutes."""
    for index, attachment in enumerate(attachments):
        key = f"{prefix}[{index}]"
        _validate_attachment(attachment, key, errors)
        expiry = sas_expiry(attachment.sas_url)
        if expiry is not None and send_time <= LATEST_SEND_TIME and expiry < send_time + SAS_MIN_VALIDITY:
            add(errors, key, MSG_SAS_VALIDITY.format(filename=attachment.filename))


def sas_query(sas_url: str) -> dict[str, str]:
    """The SAS URL's query parameters, keys lower-cased (the reference's NameValueCollection ignores case)."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(sas_url.strip()).query, keep_blank_values=True):
        lowered = key.lower()
        params[lowered] = f"{params[lowered]},{value}" if lowered in params else value
    return params


def sas_expiry(sas_url: str) -> datetime | None:
    """The `se` (signed expiry) of a SAS URL as an aware UTC time; None when absent or unparsable."""
    value = sas_query(sas_url).get("se", "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return as_utc(parsed)


def _validate_attachment(attachment: SasFileReferenceExt, prefix: str, errors: ValidationErrors) -> None:
    """docs/compatibility.md C7: filename, then the SAS URL rules in the reference's dependent order, then the MIME type."""
    filename = attachment.filename
    if is_blank(filename):
        add(errors, f"{prefix}.Filename", MSG_ATTACHMENT_FILENAME_EMPTY)
    elif not _is_valid_filename(filename):
        add(errors, f"{prefix}.Filename", MSG_ATTACHMENT_FILENAME.format(filename=filename))

    sas_key = f"{prefix}.SasUrl"
    sas_url = attachment.sas_url.strip()
    parts = urlsplit(sas_url)
    if not check_length(errors, sas_key, sas_url, MAX_URL_LENGTH, "SasUrl"):
        pass  # not parsed any further
    elif parts.scheme.lower() != "https" or not parts.hostname:
        add(errors, sas_key, MSG_SAS_HTTPS.format(filename=filename))
    elif not parts.hostname.lower().endswith(".blob.core.windows.net"):
        add(errors, sas_key, MSG_SAS_HOST.format(filename=filename))
    else:
        query = sas_query(sas_url)
        if not (
            not is_blank(query.get("se"))
            and not is_blank(query.get("sp"))
            and query.get("sr", "").lower() == "b"
            and not is_blank(query.get("sig"))
        ):
            add(errors, sas_key, MSG_SAS_PARAMETERS.format(filename=filename))
        else:
            if sas_expiry(sas_url) is None:
                add(errors, sas_key, MSG_SAS_EXPIRY.format(filename=filename))
            if "r" not in query.get("sp", ""):
                add(errors, sas_key, MSG_SAS_READ.format(filename=filename))

    mime_type = attachment.mime_type
    if is_blank(mime_type):
        add(errors, f"{prefix}.MimeType", MSG_MIME_EMPTY.format(filename=filename))
    elif mime_type.lower() not in ALLOWED_MIME_TYPES:
        add(errors, f"{prefix}.MimeType", MSG_MIME_UNSUPPORTED.format(filename=filename))


def _is_valid_filename(filename: str) -> bool:
    """No `/` or `\\`, and an extension of at least one character after the last dot."""
    if "/" in filename or "\\" in filename:
        return False
    dot = filename.rfind(".")
    return dot != -1 and dot < len(filename) - 1
