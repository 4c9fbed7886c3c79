"""The browsers a user has signed in from before: a signed cookie naming them.

A stranger guessing a clerk's password from elsewhere slows down sign-ins to that e-mail,
but not from a browser that shows this cookie (see `LoginPolicy`): the owner keeps getting in.
"""

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.models import User

COOKIE = "acquit_device"
MAX_AGE = 365 * 86400
#: A browser shared by a few colleagues remembers each of them; older ones drop off.
MAX_USERS = 5


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="acquit.known-device")


def known_user_ids() -> frozenset[int]:
    """The users this browser has signed in as (none if its cookie is missing, stale or tampered with)."""
    try:
        ids = _serializer().loads(request.cookies.get(COOKIE, ""), max_age=MAX_AGE)
    except BadSignature:
        return frozenset()
    return frozenset(i for i in ids if isinstance(i, int)) if isinstance(ids, list) else frozenset()


def remember_device(response: Response, user: User) -> Response:
    """Add `user` to the browser's cookie of users it has signed in as."""
    ids = [user.id] + [i for i in known_user_ids() if i != user.id][: MAX_USERS - 1]
    response.set_cookie(COOKIE, _serializer().dumps(ids), max_age=MAX_AGE, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
