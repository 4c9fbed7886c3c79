"""Text from forms and query strings: the NUL character is refused before any view sees it.

PostgreSQL's text cannot hold NUL, so a NUL that reached a query (a search box, the sign-in
form's e-mail) ended in a database error, a 500; SQLite would store it and hand it to an
e-mail header or a CSV later. No one types it: it comes from pasted binary or a probe. The
API checks its own input and names the field at fault, so it is left to do so.
"""

from flask import request
from flask_babel import lazy_gettext as _l

from portal import errors

NUL = "\x00"
NUL_REFUSED = _l("What you sent contains a character that cannot be stored (NUL, 0x00). Remove it and try again.")


def refuse_nul_characters():
    """A before_request hook: 400 for a NUL anywhere in the path, query string, form or file names."""
    if request.blueprint == "api":
        return None
    if _holds_nul(request):
        return errors.error_response(400, NUL_REFUSED)
    return None


def _holds_nul(http_request) -> bool:
    if NUL in http_request.path:
        return True
    for values in (http_request.args, http_request.form):
        if any(NUL in key or NUL in value for key, value in values.items(multi=True)):
            return True
    return any(NUL in key or NUL in (upload.filename or "") for key, upload in http_request.files.items(multi=True))
