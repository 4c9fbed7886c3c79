"""Behind a reverse proxy or a load balancer: which of its forwarded headers the portal believes.

`ACQUIT_TRUSTED_PROXIES` is the number of proxies in front of the portal that each add to
X-Forwarded-For and set X-Forwarded-Proto and X-Forwarded-Host. With N, the client's address
is the Nth from the end of X-Forwarded-For: what the nearest proxy saw, not what a client wrote
there. Per-address limits (sign-in, forgotten password, guest links) then count the client,
and an https proxy makes the request secure (HSTS, cookies). With 0, the default, no forwarded
header is believed: a client reaching the portal directly cannot pose as another address.
"""

from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config_errors import ConfigurationError


def behind_trusted_proxies(wsgi_app, hops: int):
    """`wsgi_app` seeing the client's address, scheme and host as the `hops` nearest proxies forwarded them."""
    if hops < 0:
        raise ConfigurationError(f"ACQUIT_TRUSTED_PROXIES is a number of proxies (0 or more), not {hops}")
    if hops == 0:
        return wsgi_app
    return ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
